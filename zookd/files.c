/* zookfs's file side: see files.h. */
#define _GNU_SOURCE
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sock.h"

static int rootfd = -1;

void files_init(int root)
{
    rootfd = root;
}

static const char *mime_type(const char *path)
{
    static const struct { const char *ext, *type; } types[] = {
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},   {"js", "text/javascript; charset=utf-8"},
        {"png", "image/png"},                 {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},               {"gif", "image/gif"},
        {"svg", "image/svg+xml"},             {"ico", "image/x-icon"},
        {"txt", "text/plain; charset=utf-8"}, {"json", "application/json"},
        {"woff2", "font/woff2"},              {"woff", "font/woff"},
    };
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

static int open_beneath(const char *rel)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
}

/* Small files are kept in memory, keyed by URL path, and served from
 * there while a stat() of the same path still shows the same file (device,
 * inode, size, mtime, ctime). Entries are only made from files opened with
 * RESOLVE_BENEATH; a hit proves the path still names that very file, so a
 * later symlink swap cannot lead a hit outside the root. */
#define CACHE_BUCKETS 1024
#define CACHE_MAX_BYTES (32 * 1024 * 1024)

struct cached {
    struct cached *next;
    char *path;
    char *data;
    size_t len;
    dev_t dev;
    ino_t ino;
    struct timespec mtime, ctime;
};

static struct cached *cache[CACHE_BUCKETS];
static size_t cache_bytes;
static pthread_rwlock_t cache_lock = PTHREAD_RWLOCK_INITIALIZER;

static unsigned cache_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % CACHE_BUCKETS;
}

static int same_file(const struct cached *c, const struct stat *st)
{
    return c->dev == st->st_dev && c->ino == st->st_ino && (off_t)c->len == st->st_size &&
           c->mtime.tv_sec == st->st_mtim.tv_sec && c->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           c->ctime.tv_sec == st->st_ctim.tv_sec && c->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Copy a still-valid cached file into out (SMALL_FILE bytes); its length or -1. */
long files_cached(const char *path, char *out)
{
    const char *rel = path[1] ? path + 1 : ".";
    struct stat st;
    if (fstatat(rootfd, rel, &st, 0) < 0 || !S_ISREG(st.st_mode))
        return -1;
    long len = -1;
    pthread_rwlock_rdlock(&cache_lock);
    for (struct cached *c = cache[cache_hash(path)]; c; c = c->next) {
        if (strcmp(c->path, path) == 0) {
            if (same_file(c, &st)) {
                memcpy(out, c->data, c->len);
                len = (long)c->len;
            }
            break;
        }
    }
    pthread_rwlock_unlock(&cache_lock);
    return len;
}

static void cache_put(const char *path, const struct stat *st, const char *data, size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, data, len);
    pthread_rwlock_wrlock(&cache_lock);
    struct cached **slot = &cache[cache_hash(path)], *c = *slot;
    while (c && strcmp(c->path, path) != 0)
        c = c->next;
    if (!c && cache_bytes + len <= CACHE_MAX_BYTES && (c = calloc(1, sizeof *c))) {
        c->path = strdup(path);
        if (!c->path) {
            free(c);
            c = NULL;
        } else {
            c->next = *slot;
            *slot = c;
        }
    }
    if (c) {
        cache_bytes = cache_bytes - c->len + len;
        free(c->data);
        c->data = copy;
        copy = NULL;
        c->len = len;
        c->dev = st->st_dev;
        c->ino = st->st_ino;
        c->mtime = st->st_mtim;
        c->ctime = st->st_ctim;
    }
    pthread_rwlock_unlock(&cache_lock);
    free(copy);
}

static enum http_err open_error(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return HTTP_E_NOT_FOUND;
    case ENAMETOOLONG:
        return HTTP_E_URI_TOO_LONG;
    case EXDEV: /* would leave the root */
    case ELOOP:
    case EACCES:
    case EPERM:
    case ENXIO: /* sockets */
        return HTTP_E_FORBIDDEN;
    default:
        return HTTP_E_INTERNAL;
    }
}

size_t files_head(char *out, const char *path, long long size, int keep)
{
    int n = snprintf(out, 512,
                     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %lld\r\n%s\r\n",
                     mime_type(path), size, keep ? "" : "Connection: close\r\n");
    return n < 0 ? 0 : (size_t)n;
}

enum http_err files_serve(int fd, const char *path, int is_head, int keep)
{
    const char *rel = path[1] ? path + 1 : ".";
    char head[512];
    char body[SMALL_FILE];
    long cached = is_head ? -1 : files_cached(path, body);
    if (cached >= 0) {
        size_t hn = files_head(head, path, cached, keep);
        return net_write2(fd, head, hn, body, (size_t)cached) < 0 ? HTTP_CLOSED : HTTP_OK;
    }
    int f = open_beneath(rel);
    if (f < 0)
        return open_error(errno);
    struct stat st;
    if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(f);
        return HTTP_E_FORBIDDEN; /* no directory listings, no devices or fifos */
    }
    size_t hn = files_head(head, path, (long long)st.st_size, keep);
    if (is_head || st.st_size == 0) {
        close(f);
        return net_write_all(fd, head, hn, 0) < 0 ? HTTP_CLOSED : HTTP_OK;
    }
    if (st.st_size <= SMALL_FILE) {
        size_t want = (size_t)st.st_size, got = 0;
        while (got < want) {
            ssize_t r = pread(f, body + got, want - got, (off_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        close(f);
        if (got != want)
            return HTTP_CLOSED; /* file changed under us: the head is not sent yet */
        cache_put(path, &st, body, want);
        return net_write2(fd, head, hn, body, want) < 0 ? HTTP_CLOSED : HTTP_OK;
    }
    if (net_write_all(fd, head, hn, MSG_MORE) < 0) {
        close(f);
        return HTTP_CLOSED;
    }
    off_t off = 0;
    while (off < st.st_size) {
        ssize_t r = sendfile(fd, f, &off, (size_t)(st.st_size - off));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(f);
            return HTTP_CLOSED; /* peer gone or file shrank: framing is lost */
        }
    }
    close(f);
    return HTTP_OK;
}

