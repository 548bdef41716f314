/* heap.c: a binary min-heap of deadlines with O(log n) removal of any entry. */
#include "event/heap.h"

#include <errno.h>
#include <stdlib.h>

static void place(ss__heap *h, int i, ss__heap_node *n)
{
    h->items[i] = n;
    n->index = i;
}

static void sift_up(ss__heap *h, int i)
{
    ss__heap_node *n = h->items[i];
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (h->items[parent]->deadline <= n->deadline)
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, n);
}

static void sift_down(ss__heap *h, int i)
{
    ss__heap_node *n = h->items[i];
    for (;;) {
        int child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && h->items[child + 1]->deadline < h->items[child]->deadline)
            child++;
        if (n->deadline <= h->items[child]->deadline)
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, n);
}

int ss__heap_push(ss__heap *h, ss__heap_node *n)
{
    if (h->len == h->cap) {
        int cap = h->cap ? h->cap * 2 : 64;
        ss__heap_node **items = realloc(h->items, (size_t)cap * sizeof *items);
        if (!items)
            return -ENOMEM;
        h->items = items;
        h->cap = cap;
    }
    h->items[h->len] = n;
    n->index = h->len++;
    sift_up(h, n->index);
    return 0;
}

void ss__heap_remove(ss__heap *h, ss__heap_node *n)
{
    int i = n->index;
    if (i < 0)
        return;
    n->index = -1;
    ss__heap_node *last = h->items[--h->len];
    if (i == h->len)
        return;
    place(h, i, last);
    if (i > 0 && h->items[(i - 1) / 2]->deadline > last->deadline)
        sift_up(h, i);
    else
        sift_down(h, i);
}

ss__heap_node *ss__heap_top(const ss__heap *h)
{
    return h->len ? h->items[0] : NULL;
}

void ss__heap_free(ss__heap *h)
{
    free(h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}
