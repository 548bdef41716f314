/* fuzz_proxy.c: fuzz target: the PROXY protocol header parser (ss__proxy_parse), fed every prefix of the input as bytes arrive. */
#include "fuzz.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#define DECIDED_BY 232 /* v1: 107 bytes; v2: 16 + 216 (two Unix addresses) */

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* A v1 line written back from what was parsed: for IPv4 (inet_pton takes
 * only the canonical dotted quad) it must be the input's line, byte for
 * byte. */
static void check_v1(const uint8_t *buf, int r, const ss__proxy_hdr *h)
{
    FUZZ_CHECK(r >= 8 && buf[r - 2] == '\r' && buf[r - 1] == '\n', "v1 header of %d bytes does not end in CRLF", r);
    FUZZ_CHECK(r <= 107, "v1 header of %d bytes", r);
    if (h->local) {
        FUZZ_CHECK(memcmp(buf, "PROXY UNKNOWN", 13) == 0, "v1 local header is not UNKNOWN");
        return;
    }
    FUZZ_CHECK(h->src.ss_family == h->dst.ss_family, "v1: source and destination families differ");
    if (h->src.ss_family != AF_INET) {
        FUZZ_CHECK(h->src.ss_family == AF_INET6 && memcmp(buf, "PROXY TCP6 ", 11) == 0, "v1: family %d", h->src.ss_family);
        return;
    }
    const struct sockaddr_in *s = (const struct sockaddr_in *)&h->src, *d = (const struct sockaddr_in *)&h->dst;
    char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], line[128];
    inet_ntop(AF_INET, &s->sin_addr, a, sizeof a);
    inet_ntop(AF_INET, &d->sin_addr, b, sizeof b);
    int n = snprintf(line, sizeof line, "PROXY TCP4 %s %s %u %u\r\n", a, b, ntohs(s->sin_port), ntohs(d->sin_port));
    FUZZ_CHECK(n == r && memcmp(line, buf, (size_t)r) == 0, "v1 line written back differs: %s", line);
}

static void check_v2(const uint8_t *buf, size_t n, int r, const ss__proxy_hdr *h)
{
    FUZZ_CHECK(n >= 16 && memcmp(buf, v2_sig, 12) == 0, "v2 header without its signature");
    size_t len = 16 + ((size_t)buf[14] << 8 | buf[15]);
    FUZZ_CHECK((size_t)r == len, "v2 header length %d, its field says %zu", r, len);
    unsigned fam = buf[13] >> 4;
    if (h->local) {
        FUZZ_CHECK((buf[12] & 0xF) == 0 || fam == 0 || fam > 3, "v2 PROXY command with an address taken as local");
        return;
    }
    const uint8_t *a = buf + 16;
    if (fam == 1) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&h->src;
        FUZZ_CHECK(s->sin_family == AF_INET && memcmp(&s->sin_addr, a, 4) == 0 && memcmp(&s->sin_port, a + 8, 2) == 0,
                   "v2 IPv4 source differs from its bytes");
    } else if (fam == 2) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&h->src;
        FUZZ_CHECK(s->sin6_family == AF_INET6 && memcmp(&s->sin6_addr, a, 16) == 0 && memcmp(&s->sin6_port, a + 32, 2) == 0,
                   "v2 IPv6 source differs from its bytes");
    } else {
        FUZZ_CHECK(h->src.ss_family == AF_UNIX, "v2 Unix source of family %d", h->src.ss_family);
        FUZZ_CHECK(h->srclen <= sizeof(struct sockaddr_un), "v2 Unix source length %u", (unsigned)h->srclen);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (size_t)4 * DECIDED_BY)
        size = (size_t)4 * DECIDED_BY;
    /* Fed byte by byte as a socket might deliver them: "need more" until a
     * decision, then the same decision whatever follows. */
    int decided = 0;
    size_t at = 0;
    for (size_t k = 0; k <= size; k++) {
        ss__proxy_hdr h;
        const char *why = NULL;
        int r = ss__proxy_parse(data, k, &h, &why);
        if (decided == 0 && r == 0) {
            FUZZ_CHECK(k < DECIDED_BY, "no decision after %zu bytes", k);
            continue;
        }
        if (r < 0)
            FUZZ_CHECK(why && *why, "refusal without a reason");
        if (decided == 0) {
            decided = r;
            at = k;
            if (r > 0) {
                if (memcmp(data, "PROXY ", 6) == 0)
                    check_v1(data, r, &h);
                else
                    check_v2(data, k, r, &h);
            }
            continue;
        }
        FUZZ_CHECK((r < 0) == (decided < 0) && (r < 0 || r == decided),
                   "decided %d after %zu bytes, then %d after %zu", decided, at, r, k);
    }
    return 0;
}
