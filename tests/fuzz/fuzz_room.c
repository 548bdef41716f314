/* fuzz_room.c: fuzz target: what another client may publish on chat's Redis channel (room_message_parse, with an oracle written apart and the round trip through room_message_make), and --room's URL (room_url_parse). */
#include "fuzz.h"

#include "room_message.h"
#include "room_url.h"

/* The oracle: whether the n bytes at s are "sockserv/1 ", a word of 1 to
 * 512 bytes from '!' to '~', a blank, then at most max bytes. */
static bool well_formed(const uint8_t *s, size_t n, size_t max)
{
    static const char magic[] = "sockserv/1 ";
    size_t m = sizeof magic - 1, i = m;

    if (n < m || memcmp(s, magic, m) != 0)
        return false;
    while (i < n && s[i] >= 0x21 && s[i] <= 0x7E)
        i++;
    size_t word = i - m;
    return word >= 1 && word <= 512 && i < n && s[i] == ' ' && n - i - 1 <= max;
}

static void check_message(const uint8_t *s, size_t n, size_t max)
{
    struct room_message msg;
    int rc = room_message_parse((const char *)s, n, max, &msg);

    FUZZ_CHECK((rc == 0) == well_formed(s, n, max), "%zu bytes %s", n,
               rc == 0 ? "taken, not well formed" : "refused, well formed");
    if (rc != 0)
        return;
    FUZZ_CHECK(msg.peer >= (const char *)s && msg.text + msg.len == (const char *)s + n,
               "the parts are not the message's");
    char *again = malloc(n);
    FUZZ_CHECK(again, "out of memory");
    size_t k = room_message_make(again, msg.peer, msg.plen, msg.text, msg.len);
    FUZZ_CHECK(k == n && memcmp(again, s, n) == 0, "made again, %zu bytes differ from %zu", k, n);
    free(again);
}

static void check_url(const uint8_t *s, size_t n)
{
    char *text = malloc(n + 1);
    struct room_url url;
    const char *why = NULL;

    FUZZ_CHECK(text, "out of memory");
    memcpy(text, s, n);
    text[n] = '\0';
    if (room_url_parse(text, &url, &why) == 0) {
        FUZZ_CHECK(strncmp(text, "redis://", 8) == 0, "taken without the scheme");
        FUZZ_CHECK(url.port >= 1 && url.port <= 65535, "port %d", url.port);
        size_t hl = strlen(url.host), cl = strlen(url.channel);
        FUZZ_CHECK(hl >= 1 && hl <= ROOM_HOST_MAX, "a host of %zu bytes", hl);
        FUZZ_CHECK(cl >= 1 && cl <= ROOM_CHANNEL_MAX && strspn(url.channel,
                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:._-") == cl,
                   "a channel of %zu bytes, not all safe", cl);
        FUZZ_CHECK(strchr(text + 8, '@') == NULL && strchr(text, '?') == NULL,
                   "taken with a user or a query");
    } else {
        FUZZ_CHECK(why && *why, "refused without a reason");
    }
    free(text);
}

/* Input: byte 0 chooses: even, a message with the text limit from byte 1;
 * odd, a URL (up to its first NUL). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    if (data[0] & 1) {
        const uint8_t *nul = memchr(data + 1, 0, size - 1);
        check_url(data + 1, nul ? (size_t)(nul - (data + 1)) : size - 1);
    } else {
        check_message(data + 2, size - 2, (size_t)data[1] * 4);
    }
    return 0;
}
