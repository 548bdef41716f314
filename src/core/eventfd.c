/* eventfd.c: waking a waiter through an eventfd, and taking the wake-ups it got. */
#include "core/internal.h"

#include <unistd.h>

void ss__eventfd_wake(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) < 0) {
        /* EAGAIN only: the counter is full, so a wake is pending anyway. */
    }
}

void ss__eventfd_drain(int fd)
{
    uint64_t count;
    while (read(fd, &count, sizeof count) > 0)
        ;
}
