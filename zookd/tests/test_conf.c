/* Unit tests of the zook.conf reader. */
#include "check.h"
#include "conf.h"

static struct conf c;
static struct conf_error err;

static int parse(const char *s)
{
    memset(&c, 0, sizeof c);
    return conf_parse(s, strlen(s), &c, &err);
}

static void sections_keys_and_repeats(void)
{
    CHECK_EQ_INT(parse("# top\n[main]\n  cmd = zookd2\nport=8080\n\n[static]\n"
                       "\tfwrule = -s main -j ACCEPT\nfwrule = -j REJECT  \r\n"),
                 0);
    CHECK_EQ_INT(c.n, 2);
    const struct conf_section *m = conf_section(&c, "main");
    CHECK(m != NULL);
    CHECK_STR(conf_get(m, "cmd")->value, "zookd2");
    CHECK_STR(conf_get(m, "port")->value, "8080");
    CHECK_EQ_INT(conf_get(m, "port")->line, 4);
    const struct conf_section *s = conf_section(&c, "static");
    const struct conf_entry *e = conf_get(s, "fwrule");
    CHECK_STR(e->value, "-s main -j ACCEPT");
    e = conf_next(s, "fwrule", e);
    CHECK_STR(e->value, "-j REJECT");
    CHECK(conf_next(s, "fwrule", e) == NULL);
    CHECK(conf_section(&c, "nope") == NULL);
    conf_free(&c);
}

static void values_keep_regex_characters(void)
{
    CHECK_EQ_INT(parse("[s]\nurl = /zoobar/media/.*|/favicon\\.ico\nx = a = b # c\n"), 0);
    const struct conf_section *s = conf_section(&c, "s");
    CHECK_STR(conf_get(s, "url")->value, "/zoobar/media/.*|/favicon\\.ico");
    CHECK_STR(conf_get(s, "x")->value, "a = b # c");
    conf_free(&c);
}

static void errors_name_the_line(void)
{
    const struct {
        const char *text;
        int line;
    } bad[] = {
        {"[main]\nport 8080\n", 2},   {"port = 1\n", 1},          {"[a]\n[a]\n", 2},
        {"[a\n", 1},                  {"[]\n", 1},                {"[a b]\n", 1},
        {"[a]\n = v\n", 2},           {"[a]\nk\x01 = v\n", 2},    {"[a]\n\nk = v\0\n", 3},
        {"[a]\nke y = v\n", 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&c, 0, sizeof c);
        size_t len = strlen(bad[i].text);
        if (i == 8)
            len = 14; /* includes the NUL */
        CHECK_EQ_INT(conf_parse(bad[i].text, len, &c, &err), -1);
        if (err.line != bad[i].line)
            fprintf(stderr, "  case %zu: line %d (%s)\n", i, err.line, err.msg);
        CHECK_EQ_INT(err.line, bad[i].line);
        CHECK(err.msg[0] != '\0');
        CHECK(c.n == 0 && c.sections == NULL);
    }
}

static void empty_file_has_no_sections(void)
{
    CHECK_EQ_INT(parse(""), 0);
    CHECK_EQ_INT(c.n, 0);
    conf_free(&c);
}

int main(void)
{
    static const struct check_case cases[] = {
        CASE(sections_keys_and_repeats),
        CASE(values_keep_regex_characters),
        CASE(errors_name_the_line),
        CASE(empty_file_has_no_sections),
    };
    return check_run(cases, sizeof cases / sizeof cases[0]);
}
