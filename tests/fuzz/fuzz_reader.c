/* fuzz_reader.c: fuzz target: the buffered reader (read, read1, readline, readline_ref, read_all) over arbitrary bytes in arbitrary chunks. */
#include "fuzz.h"

/* Input: byte 0 = n, n control bytes (read buffer size, read calls and
 * their sizes, chunk sizes, faults), then the bytes the peer sends. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_ctl ctl;
    const uint8_t *payload;
    size_t len;
    fuzz_feed f;

    fuzz_split(data, size, &ctl, &payload, &len);
    fuzz_feed_start(&f, payload, len, &ctl);
    fuzz_read_script(f.req, payload, len, &ctl, &f, NULL);
    fuzz_feed_end(&f);
    return 0;
}
