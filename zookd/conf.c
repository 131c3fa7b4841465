/* zook.conf reader: see conf.h. */
#define _GNU_SOURCE
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int is_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

static int valid_name(const char *p, size_t n)
{
    if (n == 0 || n > CONF_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_name_char((unsigned char)p[i]))
            return 0;
    return 1;
}

static int fail(struct conf_error *err, int line, const char *msg)
{
    err->line = line;
    snprintf(err->msg, sizeof err->msg, "%s", msg);
    return -1;
}

static void *grow(void *arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(arr, ncap * size);
    if (p)
        *cap = ncap;
    return p;
}

static int add_section(struct conf *c, const char *p, size_t n, int line)
{
    struct conf_section *s = grow(c->sections, &c->cap, c->n + 1, sizeof *s);
    if (!s)
        return -1;
    c->sections = s;
    s = &c->sections[c->n];
    memset(s, 0, sizeof *s);
    s->name = strndup(p, n);
    if (!s->name)
        return -1;
    s->line = line;
    c->n++;
    return 0;
}

static int add_entry(struct conf_section *s, const char *k, size_t kn, const char *v,
                     size_t vn, int line)
{
    struct conf_entry *e = grow(s->entries, &s->cap, s->n + 1, sizeof *e);
    if (!e)
        return -1;
    s->entries = e;
    e = &s->entries[s->n];
    e->key = strndup(k, kn);
    e->value = strndup(v, vn);
    e->line = line;
    if (!e->key || !e->value) {
        free(e->key);
        free(e->value);
        return -1;
    }
    s->n++;
    return 0;
}

static void trim(const char **p, const char **e)
{
    while (*p < *e && (**p == ' ' || **p == '\t'))
        (*p)++;
    while (*e > *p && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
        (*e)--;
}

static int parse_line(struct conf *c, const char *p, const char *e, int line,
                      struct conf_error *err)
{
    trim(&p, &e);
    if (p == e || *p == '#')
        return 0;
    if (*p == '[') {
        if (e[-1] != ']')
            return fail(err, line, "section header must be \"[name]\"");
        const char *np = p + 1, *ne = e - 1;
        trim(&np, &ne);
        if (!valid_name(np, (size_t)(ne - np)))
            return fail(err, line, "section name must be 1-64 of [A-Za-z0-9_.-]");
        for (size_t i = 0; i < c->n; i++)
            if (strlen(c->sections[i].name) == (size_t)(ne - np) &&
                memcmp(c->sections[i].name, np, (size_t)(ne - np)) == 0)
                return fail(err, line, "section defined twice");
        if (add_section(c, np, (size_t)(ne - np), line) < 0)
            return fail(err, line, "out of memory");
        return 0;
    }
    const char *eq = memchr(p, '=', (size_t)(e - p));
    if (!eq)
        return fail(err, line, "expected \"key = value\", \"[section]\" or \"# comment\"");
    const char *kp = p, *ke = eq, *vp = eq + 1, *ve = e;
    trim(&kp, &ke);
    trim(&vp, &ve);
    if (!valid_name(kp, (size_t)(ke - kp)))
        return fail(err, line, "key must be 1-64 of [A-Za-z0-9_.-]");
    if (c->n == 0)
        return fail(err, line, "key outside any [section]");
    if (add_entry(&c->sections[c->n - 1], kp, (size_t)(ke - kp), vp, (size_t)(ve - vp),
                  line) < 0)
        return fail(err, line, "out of memory");
    return 0;
}

int conf_parse(const char *buf, size_t len, struct conf *c, struct conf_error *err)
{
    err->line = 0;
    err->msg[0] = '\0';
    if (len > CONF_MAX_FILE) {
        fail(err, 0, "file larger than 1 MiB");
        conf_free(c);
        return -1;
    }
    const char *p = buf, *end = buf + len;
    int line = 1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        for (const char *q = p; q < e; q++) {
            unsigned char ch = (unsigned char)*q;
            if (ch == 0 || (ch < 0x20 && ch != '\t' && !(ch == '\r' && q + 1 == e))) {
                fail(err, line, "control character in line");
                conf_free(c);
                return -1;
            }
        }
        if (parse_line(c, p, e, line, err) < 0) {
            conf_free(c);
            return -1;
        }
        p = nl ? nl + 1 : end;
        line++;
    }
    return 0;
}

void conf_free(struct conf *c)
{
    for (size_t i = 0; i < c->n; i++) {
        struct conf_section *s = &c->sections[i];
        for (size_t j = 0; j < s->n; j++) {
            free(s->entries[j].key);
            free(s->entries[j].value);
        }
        free(s->entries);
        free(s->name);
    }
    free(c->sections);
    c->sections = NULL;
    c->n = c->cap = 0;
}

const struct conf_section *conf_section(const struct conf *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->sections[i].name, name) == 0)
            return &c->sections[i];
    return NULL;
}

const struct conf_entry *conf_next(const struct conf_section *s, const char *key,
                                   const struct conf_entry *prev)
{
    size_t i = prev ? (size_t)(prev - s->entries) + 1 : 0;
    for (; i < s->n; i++)
        if (strcmp(s->entries[i].key, key) == 0)
            return &s->entries[i];
    return NULL;
}

const struct conf_entry *conf_get(const struct conf_section *s, const char *key)
{
    return conf_next(s, key, NULL);
}

void conf_die(const struct conf *c, int line, const char *fmt, ...)
{
    va_list ap;
    if (line > 0)
        fprintf(stderr, "%s:%d: ", c->path, line);
    else
        fprintf(stderr, "%s: ", c->path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

void conf_load(const char *path, struct conf *c)
{
    memset(c, 0, sizeof *c);
    c->path = path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        conf_die(c, 0, "cannot open: %s", strerror(errno));
    char *buf = malloc(CONF_MAX_FILE + 1);
    if (!buf)
        conf_die(c, 0, "out of memory");
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, CONF_MAX_FILE + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            conf_die(c, 0, "cannot read: %s", strerror(errno));
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > CONF_MAX_FILE)
            conf_die(c, 0, "file larger than 1 MiB");
    }
    close(fd);
    struct conf_error err;
    if (conf_parse(buf, len, c, &err) < 0) {
        free(buf);
        conf_die(c, err.line, "%s", err.msg);
    }
    free(buf);
}

const struct conf_section *conf_need_section(const struct conf *c, const char *name)
{
    const struct conf_section *s = conf_section(c, name);
    if (!s)
        conf_die(c, 0, "no section [%s]", name);
    return s;
}

const struct conf_entry *conf_need(const struct conf *c, const struct conf_section *s,
                                   const char *key)
{
    const struct conf_entry *e = conf_get(s, key);
    if (!e)
        conf_die(c, s->line, "section [%s] has no \"%s\"", s->name, key);
    return e;
}

/* A decimal of at most `digits` digits, else -1. */
static long whole_number(const char *v, size_t digits)
{
    size_t n = strlen(v);
    long x = n && n <= digits ? 0 : -1;
    for (size_t i = 0; i < n && x >= 0; i++)
        x = (v[i] >= '0' && v[i] <= '9') ? x * 10 + (v[i] - '0') : -1;
    return x;
}

int conf_port(const struct conf *c, const struct conf_entry *e)
{
    const char *v = e->value;
    long port = whole_number(v, 5);
    if (port < 1 || port > 65535)
        conf_die(c, e->line, "%s = %s: not a TCP port (1-65535)", e->key, v);
    return (int)port;
}

long conf_int(const struct conf *c, const struct conf_section *s, const char *key, long def,
              long min, long max)
{
    const struct conf_entry *e = conf_get(s, key);
    if (!e)
        return def;
    long x = whole_number(e->value, 10);
    if (x < min || x > max)
        conf_die(c, e->line, "%s = %s: want a whole number %ld..%ld", key, e->value, min, max);
    return x;
}
