/* libFuzzer target: request, response and CGI head parsers, body framing
 * and the chunked-body scanner, over arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static struct http_head h;

static void check_spans(const uint8_t *data, size_t size)
{
    const char *lo = (const char *)data, *hi = lo + size;
    if (h.len > size)
        abort();
    for (size_t i = 0; i < h.nheaders; i++) {
        const struct http_header *hd = &h.headers[i];
        if (hd->name.p < lo || hd->name.p + hd->name.n > hi || hd->value.p + hd->value.n > hi)
            abort();
        if (memchr(hd->value.p, '\n', hd->value.n) || memchr(hd->value.p, '\r', hd->value.n))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the parsers never need a NUL: give them an exactly-sized copy */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    struct http_body b;
    if (http_parse_request(buf, size, &h) == HTTP_OK) {
        check_spans((const uint8_t *)buf, size);
        http_request_body(&h, HTTP_DEFAULT_MAX_BODY, &b);
        http_keep_alive(&h);
        http_has_token(&h, "connection", "close");
        char path[HTTP_MAX_REQUEST_LINE + 1];
        size_t n;
        http_decode_path(h.target.p, h.target.n, path, sizeof path, &n);
        http_query(h.target);
    }
    if (http_parse_response(buf, size, &h) == HTTP_OK) {
        check_spans((const uint8_t *)buf, size);
        http_response_body(&h, 0, &b);
    }
    http_head_end(buf, size, size / 2);
    /* a CGI script's output */
    static struct http_cgi cgi;
    if (http_parse_cgi(buf, size, &cgi) == HTTP_OK) {
        if (cgi.body > size || cgi.status < 100 || cgi.status > 599 ||
            cgi.nheaders > HTTP_MAX_HEADERS)
            abort();
        for (size_t i = 0; i < cgi.nheaders; i++)
            if (cgi.headers[i].line.p < buf ||
                cgi.headers[i].line.p + cgi.headers[i].line.n > buf + size ||
                memchr(cgi.headers[i].line.p, '\n', cgi.headers[i].line.n))
                abort();
    }
    /* the chunked scanner, fed in two pieces */
    struct http_chunked c = {0};
    int done = 0;
    size_t cut = size ? data[0] % (size + 1) : 0;
    long r = http_chunked_feed(&c, buf, cut, &done);
    if (r > (long)cut)
        abort();
    if (r >= 0 && !done) {
        long r2 = http_chunked_feed(&c, buf + cut, size - cut, &done);
        if (r2 > (long)(size - cut))
            abort();
    }
    free(buf);
    return 0;
}
