/* heap.h: a binary min-heap of deadlines, for an event loop's timers (internal). */
#ifndef SS_HEAP_H
#define SS_HEAP_H

#include <stddef.h>
#include <stdint.h>

/* Embedded in what waits: the heap keeps `index` up to date so an entry can
 * be removed in O(log n). index is -1 while not in a heap. */
typedef struct ss__heap_node {
    int64_t deadline;
    int index;
} ss__heap_node;

typedef struct ss__heap {
    ss__heap_node **items;
    int len, cap;
} ss__heap;

/* 0, or -ENOMEM. */
int ss__heap_push(ss__heap *h, ss__heap_node *n);
void ss__heap_remove(ss__heap *h, ss__heap_node *n);
/* The earliest entry, or NULL. */
ss__heap_node *ss__heap_top(const ss__heap *h);
void ss__heap_free(ss__heap *h);

#endif
