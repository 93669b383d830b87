/*
 * test_pattern.c — the bounded-cost matcher of rank_pattern/alpha_pattern
 * keys (pattern.c): PEFT's wrapping, the refused constructs with their
 * messages, the caps, and the hostile nested repeat.
 *
 * With --table it is the driver of tests/test_pattern.py instead: each
 * stdin line "KEYHEX NAMEHEX" (the bytes in hex) gives one output line, 1 (match), 0 (no match)
 * or E (refused), cross-checked there against Python's re.
 */
#include <stdio.h>

#include "lsc_internal.h"
#include "test.h"

/* 1, 0, or -1 when the key is refused (message into err). */
static int match(const char *key, const char *name, lsc_error *err)
{
    lsc_pattern *p;
    if (lsc_pattern_compile(&p, key, err) != LSC_OK)
        return -1;
    int m = lsc_pattern_match(p, name);
    lsc_pattern_free(p);
    return m;
}

/* Hex digits of s into out (NUL-terminated); 0, or -1 on a bad digit. */
static int unhex(const char *s, size_t n, char *out)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v;
        if (sscanf(s + i, "%2x", &v) != 1)
            return -1;
        *out++ = (char)v;
    }
    *out = '\0';
    return 0;
}

static int table(void)
{
    static char line[16384], key[8192], name[8192];
    while (fgets(line, sizeof line, stdin)) {
        char *sp = strchr(line, ' ');
        size_t nl = strcspn(line, "\n");
        if (!sp || unhex(line, (size_t)(sp - line), key) || unhex(sp + 1, nl - (size_t)(sp + 1 - line), name)) {
            fprintf(stderr, "test_pattern --table: a line is not \"KEYHEX NAMEHEX\"\n");
            return 2;
        }
        lsc_error err;
        int m = match(key, name, &err);
        printf("%s\n", m < 0 ? "E" : m ? "1" : "0");
    }
    return 0;
}

static void refused(const char *key, const char *what)
{
    lsc_error err = {0};
    int m = match(key, "x", &err);
    CHECK(m == -1 && err.code == LSC_EARG && strstr(err.msg, key) && strstr(err.msg, what),
          "'%s' refused: %s (%s)", key, what, err.msg);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--table") == 0)
        return table();
    lsc_error err;
    CHECK(match("q_proj", "model.layers.0.self_attn.q_proj", &err) == 1, "suffix after a dot matches");
    CHECK(match("q_proj", "q_proj", &err) == 1, "the whole name matches");
    CHECK(match("q_proj", "model.xq_proj", &err) == 0, "a suffix not after a dot does not");
    CHECK(match("layers.0", "model.layers.0.q_proj", &err) == 0, "a key must reach the end");
    CHECK(match("layers\\.[0-3]\\..*_proj", "m.layers.2.self_attn.v_proj", &err) == 1, "class, escapes, .*");
    CHECK(match("q_proj", "m.q_proj\n", &err) == 1, "$ holds before a final newline (as in Python)");

    /* hostile: nested counted repeats are refused at the state cap, quickly */
    err.code = 0;
    CHECK(match("(a{1,255}){1,255}", "aaaa", &err) == -1 && strstr(err.msg, "too large"),
          "(a{1,255}){1,255} refused as too large (%s)", err.msg);
    CHECK(match("(a{1,20}){1,20}", "x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &err) == 1,
          "(a{1,20}){1,20} within the cap matches 59 a's");
    CHECK(match("(a*)*b", "x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", &err) == 0,
          "(a*)*b on a long run of a's ends (no backtracking)");

    refused("(a)\\1", "backreferences");
    refused("(?=a)", "not supported");
    refused("(?P<n>a)", "not supported");
    refused("a\\b", "not supported");
    refused("a++", "possessive");
    refused("a**", "multiple repeat");
    refused("*a", "nothing to repeat");
    refused("a{1001}", "counted repeat over 1000");
    refused("a{3,2}", "min repeat greater than max");
    refused("[a", "unterminated character set");
    refused("[z-a]", "bad character range");
    refused("[\\d-z]", "bad character range");
    char big[LSC_PATTERN_MAX_LEN + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    err.code = 0;
    CHECK(match(big, "a", &err) == -1 && strstr(err.msg, "over the cap"), "a key over %d bytes refused (%s)",
          LSC_PATTERN_MAX_LEN, err.msg);
    big[LSC_PATTERN_MAX_LEN] = '\0';
    CHECK(match(big, big, &err) == 1, "a key of exactly %d bytes compiles and matches", LSC_PATTERN_MAX_LEN);
    return test_summary();
}
