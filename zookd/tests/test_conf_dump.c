/* What the C zook.conf reader makes of a file, for comparing it with the Python
 * reader (zoobar/zookconf.py; tests/zookd/test_conf_readers_agree.py).
 *
 *   test_conf_dump FILE
 *
 * Accepted: exit 0, one "S <name>" line per section and one "E <key>\t<value>"
 * line per entry, in file order. Rejected: exit 1 and "X <line>\t<message>".
 * Not a unit test of its own (no `make unit`); built by the pattern rule
 * (`make -C zookd build/test_conf_dump`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    size_t cap = CONF_MAX_FILE + 2, len;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return 2;
    }
    len = fread(buf, 1, cap, f);
    fclose(f);
    struct conf c;
    struct conf_error err;
    memset(&c, 0, sizeof c);
    if (conf_parse(buf, len, &c, &err) != 0) {
        printf("X %d\t%s\n", err.line, err.msg);
        free(buf);
        return 1;
    }
    for (size_t i = 0; i < c.n; i++) {
        printf("S %s\n", c.sections[i].name);
        for (size_t j = 0; j < c.sections[i].n; j++)
            printf("E %s\t%s\n", c.sections[i].entries[j].key, c.sections[i].entries[j].value);
    }
    conf_free(&c);
    free(buf);
    return 0;
}
