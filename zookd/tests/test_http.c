/* Unit tests of the HTTP core: request/response heads, limits, body
 * framing, chunked scanning, path decoding and normalisation. */
#include <stdlib.h>

#include "check.h"
#include "http.h"

static struct http_head h;

static enum http_err req(const char *s)
{
    return http_parse_request(s, strlen(s), &h);
}

static void request_line_and_headers_are_split(void)
{
    const char *r = "GET /a/b?x=1 HTTP/1.1\r\nHost: example\r\nX-A:  v v \r\n\r\nBODY";
    CHECK_EQ_INT(req(r), HTTP_OK);
    CHECK_SPAN(h.method, "GET");
    CHECK_SPAN(h.target, "/a/b?x=1");
    CHECK_EQ_INT(h.minor, 1);
    CHECK_EQ_INT(h.nheaders, 2);
    CHECK_SPAN(h.headers[1].name, "X-A");
    CHECK_SPAN(h.headers[1].value, "v v");
    CHECK_SPAN(h.headers[1].line, "X-A:  v v ");
    CHECK_EQ_INT(h.len, strlen(r) - 4);
}

static void incomplete_head_asks_for_more(void)
{
    CHECK_EQ_INT(req("GET / HTTP/1.1\r\nHost: x\r\n"), HTTP_INCOMPLETE);
    CHECK_EQ_INT(req("GET / HT"), HTTP_INCOMPLETE);
    CHECK_EQ_INT(req(""), HTTP_INCOMPLETE);
}

static void malformed_request_lines_are_400(void)
{
    const char *bad[] = {
        "GET\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1 \r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n", "GET http://x/ HTTP/1.1\r\n\r\n", "GET / FTP/1.1\r\n\r\n",
        "GET /\x01 HTTP/1.1\r\n\r\n", " GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
        "GET / HTTP/1.1\r\nA : b\r\n\r\n", "GET / HTTP/1.1\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", "GET / HTTP/1.1\r\n: empty\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum http_err e = req(bad[i]);
        if (e != HTTP_E_BAD_REQUEST)
            fprintf(stderr, "  case %zu gave %d\n", i, e);
        CHECK_EQ_INT(e, HTTP_E_BAD_REQUEST);
    }
}

static void other_http_versions_are_505(void)
{
    CHECK_EQ_INT(req("GET / HTTP/2.0\r\n\r\n"), HTTP_E_VERSION);
    CHECK_EQ_INT(req("GET / HTTP/1.0\r\n\r\n"), HTTP_OK);
    CHECK_EQ_INT(h.minor, 0);
}

static char *repeat(const char *prefix, char c, size_t n, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    char *s = malloc(pl + n + sl + 1);
    memcpy(s, prefix, pl);
    memset(s + pl, c, n);
    memcpy(s + pl + n, suffix, sl + 1);
    return s;
}

static void request_line_limit_is_8k(void)
{
    /* "GET /" + n + " HTTP/1.1" is n + 14 bytes */
    char *ok = repeat("GET /", 'a', HTTP_MAX_REQUEST_LINE - 14, " HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(req(ok), HTTP_OK);
    char *over = repeat("GET /", 'a', HTTP_MAX_REQUEST_LINE - 13, " HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(req(over), HTTP_E_URI_TOO_LONG);
    char *partial = repeat("GET /", 'a', HTTP_MAX_REQUEST_LINE, "");
    CHECK_EQ_INT(req(partial), HTTP_E_URI_TOO_LONG);
    free(ok);
    free(over);
    free(partial);
}

static void header_block_limit_is_64k(void)
{
    /* one header line "X: vvv\r\n" + final "\r\n" = n + 7 bytes */
    char *ok = repeat("GET / HTTP/1.1\r\nX: ", 'v', HTTP_MAX_HEADER_BYTES - 7, "\r\n\r\n");
    CHECK_EQ_INT(req(ok), HTTP_OK);
    char *over = repeat("GET / HTTP/1.1\r\nX: ", 'v', HTTP_MAX_HEADER_BYTES - 6, "\r\n\r\n");
    CHECK_EQ_INT(req(over), HTTP_E_HEADERS_TOO_LARGE);
    free(ok);
    free(over);
}

static void more_than_100_headers_is_431(void)
{
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "H%d: x\r\n", i);
    snprintf(buf + n, sizeof buf - n, "\r\n");
    CHECK_EQ_INT(req(buf), HTTP_OK);
    snprintf(buf + n, sizeof buf - n, "Extra: y\r\n\r\n");
    CHECK_EQ_INT(req(buf), HTTP_E_HEADERS_TOO_LARGE);
}

static void response_status_line_is_parsed(void)
{
    const char *r = "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n";
    CHECK_EQ_INT(http_parse_response(r, strlen(r), &h), HTTP_OK);
    CHECK_EQ_INT(h.status, 302);
    r = "HTTP/1.1 200\r\n\r\n";
    CHECK_EQ_INT(http_parse_response(r, strlen(r), &h), HTTP_OK);
    r = "HTTP/1.1 20x OK\r\n\r\n";
    CHECK_EQ_INT(http_parse_response(r, strlen(r), &h), HTTP_E_BAD_GATEWAY);
    r = "HTTP/1.1 200 OK\r\nbad header\r\n\r\n";
    CHECK_EQ_INT(http_parse_response(r, strlen(r), &h), HTTP_E_BAD_GATEWAY);
}

static void request_body_framing(void)
{
    struct http_body b;
    req("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
    CHECK_EQ_INT(http_request_body(&h, 100, &b), HTTP_OK);
    CHECK_EQ_INT(b.kind, BODY_LENGTH);
    CHECK_EQ_INT(b.length, 5);
    CHECK_EQ_INT(http_request_body(&h, 4, &b), HTTP_E_BODY_TOO_LARGE);
    req("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    CHECK_EQ_INT(http_request_body(&h, 100, &b), HTTP_E_BAD_REQUEST);
    req("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n");
    CHECK_EQ_INT(http_request_body(&h, 100, &b), HTTP_E_BAD_REQUEST);
    req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK_EQ_INT(http_request_body(&h, 100, &b), HTTP_E_LENGTH_REQUIRED);
    req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n");
    CHECK_EQ_INT(http_request_body(&h, 100, &b), HTTP_E_BAD_REQUEST);
    req("GET / HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(http_request_body(&h, 100, &b), HTTP_OK);
    CHECK_EQ_INT(b.kind, BODY_NONE);
}

static void response_body_framing(void)
{
    struct http_body b;
    const char *r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    http_parse_response(r, strlen(r), &h);
    CHECK_EQ_INT(http_response_body(&h, 0, &b), HTTP_OK);
    CHECK_EQ_INT(b.kind, BODY_CHUNKED);
    CHECK_EQ_INT(http_response_body(&h, 1, &b), HTTP_OK);
    CHECK_EQ_INT(b.kind, BODY_NONE);
    r = "HTTP/1.1 200 OK\r\n\r\n";
    http_parse_response(r, strlen(r), &h);
    http_response_body(&h, 0, &b);
    CHECK_EQ_INT(b.kind, BODY_UNTIL_CLOSE);
    r = "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n";
    http_parse_response(r, strlen(r), &h);
    http_response_body(&h, 0, &b);
    CHECK_EQ_INT(b.kind, BODY_NONE);
}

static void chunked_scanner_finds_the_end(void)
{
    const char *body = "5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\nNEXT";
    struct http_chunked c = {0};
    int done = 0;
    long n = 0;
    /* byte by byte, as the worst network would deliver it */
    for (size_t i = 0; !done && i < strlen(body); i++)
        n += http_chunked_feed(&c, body + i, 1, &done);
    CHECK(done);
    CHECK_EQ_INT(n, strlen(body) - 4);
    struct http_chunked c2 = {0};
    CHECK_EQ_INT(http_chunked_feed(&c2, "zz\r\n", 4, &done), -1);
}

static void keep_alive_follows_version_and_connection(void)
{
    req("GET / HTTP/1.1\r\n\r\n");
    CHECK(http_keep_alive(&h));
    req("GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n");
    CHECK(!http_keep_alive(&h));
    req("GET / HTTP/1.0\r\n\r\n");
    CHECK(!http_keep_alive(&h));
}

static enum http_err path(const char *in, char *out)
{
    size_t n;
    return http_decode_path(in, strlen(in), out, 256, &n);
}

static void paths_are_decoded_and_normalised(void)
{
    const char *cases[][2] = {
        {"/", "/"},           {"/a/b", "/a/b"},          {"//a///b", "/a/b"},
        {"/a/./b/.", "/a/b/"}, {"/a/b/", "/a/b/"},       {"/%41%62c?x=/../", "/Abc"},
        {"/a%20b", "/a b"},   {"/x/...", "/x/..."},      {"/.", "/"},
        {"/a/%2e/b", "/a/b"}, {"/zoobar/index.cgi/users", "/zoobar/index.cgi/users"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        CHECK_EQ_INT(path(cases[i][0], out), HTTP_OK);
        if (strcmp(out, cases[i][1]) != 0)
            fprintf(stderr, "  %s -> %s, want %s\n", cases[i][0], out, cases[i][1]);
        CHECK_STR(out, cases[i][1]);
    }
}

static void path_escapes_are_refused(void)
{
    const char *bad[] = {
        "/..",          "/../etc/passwd", "/a/../../b",  "/%2e%2e/x",  "/%2E%2E/x",
        "/.%2e/x",      "/%2e./x",        "/a%2f..%2fb", "/a%2Fb",     "/a%00b",
        "/a\\..\\b",    "/a%5c..%5cb",    "/%",          "/%2",        "/%zz",
        "/a%0d%0ab",    "relative",       "",            "/a#frag",    "/a/..",
        "/a/%2e%2e",    "/%252e%252e/../x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[256];
        enum http_err e = path(bad[i], out);
        if (e != HTTP_E_BAD_REQUEST)
            fprintf(stderr, "  %s accepted as %s\n", bad[i], out);
        CHECK_EQ_INT(e, HTTP_E_BAD_REQUEST);
    }
}

static void long_paths_do_not_overflow(void)
{
    char out[8];
    size_t n;
    CHECK_EQ_INT(http_decode_path("/abcdefghij", 11, out, sizeof out, &n), HTTP_E_URI_TOO_LONG);
    CHECK_EQ_INT(http_decode_path("/abcdef", 7, out, sizeof out, &n), HTTP_OK);
    CHECK_STR(out, "/abcdef");
}

static void cgi_output_is_split_into_status_headers_and_body(void)
{
    static struct http_cgi c;
    const char *o = "Status: 404 Nope\r\nContent-Type: text/plain\nContent-Length: 99\n"
                    "Set-Cookie: a=1\n\nbody\n";
    CHECK_EQ_INT(http_parse_cgi(o, strlen(o), &c), HTTP_OK);
    CHECK_EQ_INT(c.status, 404);
    CHECK_SPAN(c.reason, "Nope");
    CHECK_EQ_INT(c.nheaders, 2); /* Content-Length is the server's business */
    CHECK_SPAN(c.headers[0].line, "Content-Type: text/plain");
    CHECK_SPAN(c.headers[1].value, "a=1");
    CHECK_STR(o + c.body, "body\n");
    o = "Location: /x\r\n\r\n";
    CHECK_EQ_INT(http_parse_cgi(o, strlen(o), &c), HTTP_OK);
    CHECK_EQ_INT(c.status, 302);
    o = "Content-Type: text/html\n\n";
    CHECK_EQ_INT(http_parse_cgi(o, strlen(o), &c), HTTP_OK);
    CHECK_EQ_INT(c.status, 200);
}

static void bad_cgi_output_is_500(void)
{
    static struct http_cgi c;
    const char *bad[] = {
        "", "Content-Type: text/html\n", "no colon\n\n", "X-Only: 1\n\n",
        "Status: 20\n\n", "Status: 999 Big\n\n", "Status: 200x\n\n",
        "Bad Name: v\nContent-Type: a\n\n", "Content-Type: a\rb\n\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(http_parse_cgi(bad[i], strlen(bad[i]), &c), HTTP_E_INTERNAL);
}

static void error_responses_carry_status_and_close(void)
{
    char buf[512];
    size_t n = http_error_response(buf, sizeof buf, 431);
    CHECK(n > 0 && n < sizeof buf);
    CHECK(strncmp(buf, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46) == 0);
    CHECK(strstr(buf, "Connection: close\r\n") != NULL);
    CHECK_EQ_INT(http_err_status(HTTP_E_GATEWAY_TIMEOUT), 504);
    CHECK_EQ_INT(http_err_status(HTTP_E_BODY_TOO_LARGE), 413);
}

int main(void)
{
    static const struct check_case cases[] = {
        CASE(request_line_and_headers_are_split),
        CASE(incomplete_head_asks_for_more),
        CASE(malformed_request_lines_are_400),
        CASE(other_http_versions_are_505),
        CASE(request_line_limit_is_8k),
        CASE(header_block_limit_is_64k),
        CASE(more_than_100_headers_is_431),
        CASE(response_status_line_is_parsed),
        CASE(request_body_framing),
        CASE(response_body_framing),
        CASE(chunked_scanner_finds_the_end),
        CASE(keep_alive_follows_version_and_connection),
        CASE(paths_are_decoded_and_normalised),
        CASE(path_escapes_are_refused),
        CASE(long_paths_do_not_overflow),
        CASE(cgi_output_is_split_into_status_headers_and_body),
        CASE(bad_cgi_output_is_500),
        CASE(error_responses_carry_status_and_close),
    };
    return check_run(cases, sizeof cases / sizeof cases[0]);
}
