/* ctl.c: control bytes: how an input steers a fuzz target (calls, sizes, chunking). */
#include "fuzz.h"

unsigned fuzz_ctl_byte(fuzz_ctl *c)
{
    if (c->n == 0)
        return 0;
    unsigned b = c->p[c->i];
    c->i = (c->i + 1) % c->n;
    return b;
}

size_t fuzz_ctl_size(fuzz_ctl *c, size_t base)
{
    unsigned b = fuzz_ctl_byte(c), low = b & 63;
    switch (b >> 6) {
    case 0: /* small: 1..64 */
        return 1 + low;
    case 1: /* up to a few KiB */
        return 1 + (size_t)low * 61;
    case 2: /* base - 32 .. base + 31: the buffer's edges */
        if (low >= 32)
            return base + (low - 32);
        return base > 32 - low ? base - (32 - low) : 1;
    default: /* 1..8 times base, and a little */
        return base * (1 + low / 8) + low % 8;
    }
}

void fuzz_split(const uint8_t *data, size_t size, fuzz_ctl *ctl, const uint8_t **payload, size_t *len)
{
    size_t n = 0;
    if (size > 0) {
        n = data[0] < size - 1 ? data[0] : size - 1;
        data++;
        size--;
    }
    ctl->p = data;
    ctl->n = n;
    ctl->i = 0;
    *payload = data + n;
    *len = size - n;
}
