/* replay.c: runs a fuzz target over every file of its corpus directories: the seed corpus as a regression test, no libFuzzer needed. */
#include "fuzz.h"

#include <dirent.h>
#include <sys/stat.h>

/* Run the target once on the file's bytes, held in a buffer of exactly
 * their size (so that a sanitizer sees a read past them). */
static void replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    FUZZ_CHECK(fp, "%s: %s", path, strerror(errno));
    struct stat st;
    FUZZ_CHECK(fstat(fileno(fp), &st) == 0, "%s: %s", path, strerror(errno));
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    FUZZ_CHECK(data, "out of memory");
    FUZZ_CHECK(fread(data, 1, size, fp) == size, "%s: short read", path);
    fclose(fp);
    printf("replay %s (%zu bytes)\n", path, size);
    fflush(stdout);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
}

static int not_hidden(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

int main(int argc, char **argv)
{
    int count = 0;
    for (int i = 1; i < argc; i++) {
        struct dirent **names;
        int n = scandir(argv[i], &names, not_hidden, alphasort);
        if (n < 0) { /* a file */
            replay_file(argv[i]);
            count++;
            continue;
        }
        for (int j = 0; j < n; j++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[j]->d_name);
            replay_file(path);
            count++;
            free(names[j]);
        }
        free(names);
    }
    if (count == 0) {
        fprintf(stderr, "usage: %s CORPUS_DIR|FILE...: no input replayed\n", argv[0]);
        return 1;
    }
    printf("%d inputs replayed, every check held\n", count);
    return 0;
}
