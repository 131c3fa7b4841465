/* libFuzzer target: request, response and CGI head parsers (line ends CRLF
 * or bare LF), body framing and the chunked-body scanner, over arbitrary
 * bytes; and the connection's incremental head reader (conn_check_head),
 * fed the same bytes in pieces, which must agree with one parse of the
 * whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
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

/* conn_check_head over the bytes arriving in pieces (cut where data says)
 * must end where one parse of the whole (after the empty lines it drops)
 * does: the same result, the same head length. */
static void check_incremental(const uint8_t *data, size_t size)
{
    static struct http_head whole, inc;
    struct conn c;
    if (conn_init(&c, -1) < 0)
        abort();
    size_t skip = http_skip_empty_lines((const char *)data, size);
    size_t rest = size - skip;
    enum http_err want = http_parse_request((const char *)data + skip, rest, &whole);
    if (want == HTTP_INCOMPLETE && rest >= HTTP_MAX_HEAD + 4)
        want = HTTP_E_HEADERS_TOO_LARGE;
    enum http_err got = HTTP_INCOMPLETE;
    size_t fed = 0, step = size ? (size_t)data[size - 1] % 97 + 1 : 1;
    while (fed < size && got == HTTP_INCOMPLETE) {
        size_t n = size - fed < step ? size - fed : step;
        if (n > c.cap - c.len)
            n = c.cap - c.len;
        memcpy(c.buf + c.len, data + fed, n);
        c.len += n;
        fed += n;
        got = conn_check_head(&c, &inc);
        if (c.len == c.cap && got == HTTP_INCOMPLETE)
            break;
    }
    /* an early error may come from a prefix: then the whole is an error too */
    if (got == HTTP_OK && (want != HTTP_OK || inc.len != whole.len))
        abort();
    if (got != HTTP_OK && got != HTTP_INCOMPLETE && want == HTTP_OK)
        abort();
    if (want == HTTP_OK && got == HTTP_INCOMPLETE)
        abort(); /* all bytes fed (the whole fits the buffer: it parsed) */
    conn_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the parsers never need a NUL: give them an exactly-sized copy */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    struct http_body b;
    if (http_parse_request(buf, size, &h) == HTTP_OK) {
        check_spans((const uint8_t *)buf, size);
        /* the head ends at its first empty line, wherever a search starts */
        if (http_head_end(buf, size, 0) != h.len || http_head_end(buf, size, h.len / 2) != h.len)
            abort();
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
    check_incremental(data, size);
    free(buf);
    return 0;
}
