/* libFuzzer target: the zook.conf reader. Accepted files must yield
 * well-formed sections; rejected ones must name a line inside the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    struct conf c;
    struct conf_error err;
    memset(&c, 0, sizeof c);
    if (conf_parse(buf, size, &c, &err) == 0) {
        for (size_t i = 0; i < c.n; i++) {
            const struct conf_section *s = &c.sections[i];
            if (!s->name[0] || conf_section(&c, s->name) != s)
                abort();
            for (size_t j = 0; j < s->n; j++) {
                const struct conf_entry *e = &s->entries[j];
                if (!e->key[0] || e->line < s->line || strchr(e->value, '\n'))
                    abort();
                if (!conf_get(s, e->key))
                    abort();
            }
        }
        conf_free(&c);
    } else {
        size_t lines = 1;
        for (size_t i = 0; i < size; i++)
            lines += data[i] == '\n';
        if (err.line < 0 || (size_t)err.line > lines || !err.msg[0] || c.sections)
            abort();
    }
    free(buf);
    return 0;
}
