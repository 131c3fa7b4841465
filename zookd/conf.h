/* zook.conf reader shared by zookd2 and zookfs.
 *
 * Format: "[section]" lines, "key = value" lines (keys may repeat), full-line
 * "#" comments, blank lines; spaces and tabs around everything are ignored.
 * conf_parse() is a pure function over (pointer, length) so that it can be
 * fuzzed; conf_load() reads a file and reports errors as "file:line: what".
 */
#ifndef ZOOK_CONF_H
#define ZOOK_CONF_H

#include <stddef.h>

#define CONF_MAX_FILE (1024 * 1024)
#define CONF_MAX_NAME 64

struct conf_entry {
    char *key;
    char *value;
    int line;
};

struct conf_section {
    char *name;
    int line;
    struct conf_entry *entries;
    size_t n, cap;
};

struct conf {
    struct conf_section *sections;
    size_t n, cap;
    const char *path; /* for messages; not owned */
};

struct conf_error {
    int line; /* 0: not about one line */
    char msg[160];
};

/* Parse buf into c (which the caller zeroes). 0 on success; -1 with err set
 * (c is then freed). */
int conf_parse(const char *buf, size_t len, struct conf *c, struct conf_error *err);
void conf_free(struct conf *c);

const struct conf_section *conf_section(const struct conf *c, const char *name);
/* First entry with this key, or NULL. */
const struct conf_entry *conf_get(const struct conf_section *s, const char *key);
/* The next entry with key after `prev` (NULL: the first). */
const struct conf_entry *conf_next(const struct conf_section *s, const char *key,
                                   const struct conf_entry *prev);

/* Read and parse path; on any error print "path:line: message" to stderr
 * and exit with status 2. */
void conf_load(const char *path, struct conf *c);
/* The section or exit 2 naming the file. */
const struct conf_section *conf_need_section(const struct conf *c, const char *name);
/* The key's value or exit 2 naming the section's line. */
const struct conf_entry *conf_need(const struct conf *c, const struct conf_section *s,
                                   const char *key);
/* A TCP port 1..65535 from entry e, or exit 2 naming its line. */
int conf_port(const struct conf *c, const struct conf_entry *e);
/* The integer value of key in s (min..max), def if s has none; exit 2
 * naming the line if it is no such number. */
long conf_int(const struct conf *c, const struct conf_section *s, const char *key, long def,
              long min, long max);
/* Print "path:line: message" (line 0: "path: message") and exit 2. */
void conf_die(const struct conf *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#endif
