/*
 * pattern.c — the regular expressions of PEFT's rank_pattern and
 * alpha_pattern keys, compiled once to a Thompson NFA and run by state-set
 * simulation: O(states · strlen(name)) per match, whatever the pattern.
 *
 * A key KEY is compiled as the text "(.*\.)?(KEY)$" — PEFT's own wrapping
 * (get_pattern_key: re.match(rf"(.*\.)?({key})$", name)) — parsed with
 * Python's re syntax rules (sre_parse: when a '{' is a literal, ']' first in
 * a class, ranges, "nothing to repeat", "multiple repeat"), so a key that
 * unbalances the wrapping's parentheses means what it means to Python.
 * re.match anchors at the start only: a match is found when the MATCH state
 * is reached at any position ($ holds at the end or before a final '\n').
 *
 * Not here: backtracking, captures, backreferences, lookaround, flags,
 * Unicode classes (\d \w \s are ASCII; names are bytes). Counted repeats are
 * expanded by parsing the repeated atom again, so the parse never costs more
 * than the state cap allows.
 */
#include <stdint.h>
#include <string.h>

#include "lsc_internal.h"

#define STR2_(x) #x
#define STR_(x)  STR2_(x)

// ---- automaton ----

enum { OP_CHAR, OP_SPLIT, OP_EPS, OP_BOL, OP_EOL, OP_MATCH };

typedef struct pstate {
    uint8_t op;
    int     out, out1;   /* next states; -1 until patched */
} pstate;

typedef uint32_t byteset[8];   /* bit c: byte c matches (OP_CHAR) */

struct lsc_pattern {
    int      n, start;
    pstate  *st;      /* (n) */
    byteset *sets;    /* (n): the set of each OP_CHAR state */
};

/* A piece of automaton: entry state in; exit state out, whose .out is
 * still -1. */
typedef struct frag {
    int in, out;
} frag;

static const frag NOFRAG = {-1, -1};

typedef struct parser {
    const char  *s;       /* the wrapped pattern */
    size_t       pos, len;
    lsc_pattern *p;
    int          depth;
    const char  *why;     /* the first error, NULL while none */
} parser;

#define REPEAT_INF (-1)

static int fail_(parser *ps, const char *why)
{
    if (!ps->why)
        ps->why = why;
    return -1;
}

static int new_state(parser *ps, int op)
{
    if (ps->why)
        return -1;
    if (ps->p->n >= LSC_PATTERN_MAX_STATES)
        return fail_(ps, "too large: over " STR_(LSC_PATTERN_MAX_STATES)
                         " automaton states with its counted repeats expanded");
    int i = ps->p->n++;
    ps->p->st[i] = (pstate){(uint8_t)op, -1, -1};
    memset(ps->p->sets[i], 0, sizeof(byteset));
    return i;
}

static frag single(parser *ps, int op)
{
    int s = new_state(ps, op);
    return s < 0 ? NOFRAG : (frag){s, s};
}

static frag cat(parser *ps, frag a, frag b)
{
    if (ps->why || a.in < 0 || b.in < 0)
        return NOFRAG;
    ps->p->st[a.out].out = b.in;
    return (frag){a.in, b.out};
}

/* a|b, a*, a? (kind '|', '*', '?'); a+ is a followed by a*'s loop. */
static frag combine(parser *ps, frag a, frag b, int kind)
{
    int sp = new_state(ps, OP_SPLIT), e = new_state(ps, OP_EPS);
    if (ps->why || a.in < 0 || (kind == '|' && b.in < 0))
        return NOFRAG;
    pstate *st = ps->p->st;
    st[sp].out = a.in;
    st[sp].out1 = kind == '|' ? b.in : e;
    st[a.out].out = kind == '*' ? sp : e;
    if (kind == '|')
        st[b.out].out = e;
    return (frag){sp, e};
}

static void set_add(byteset set, int c)
{
    set[(unsigned)c >> 5] |= 1u << ((unsigned)c & 31);
}

static void set_range(byteset set, int lo, int hi)
{
    for (int c = lo; c <= hi; c++)
        set_add(set, c);
}

// ---- escapes and classes ----

/* The class escape letter c (d D w W s S) into set; 0 when c is not one. */
static int class_escape(byteset set, int c)
{
    byteset t = {0};
    int lc = c | 0x20;
    if (lc == 'd') {
        set_range(t, '0', '9');
    } else if (lc == 'w') {
        set_range(t, 'a', 'z');
        set_range(t, 'A', 'Z');
        set_range(t, '0', '9');
        set_add(t, '_');
    } else if (lc == 's') {
        set_range(t, 9, 13);    /* \t \n \v \f \r */
        set_range(t, 28, 32);   /* \x1c-\x1f and space: str.isspace() */
    } else {
        return 0;
    }
    for (int i = 0; i < 8; i++)
        set[i] |= c == lc ? t[i] : ~t[i];
    return 1;
}

/* The escape at ps->pos ('\\'): a class (into set, *lit = -1) or one byte
 * (*lit). Advances past it. -1 on a refused escape. */
static int escape(parser *ps, int in_class, byteset set, int *lit)
{
    if (ps->pos + 1 >= ps->len)
        return fail_(ps, "bad escape (end of pattern)");
    int c = (unsigned char)ps->s[ps->pos + 1];
    ps->pos += 2;
    *lit = -1;
    if (class_escape(set, c))
        return 0;
    static const char from[] = "ntrfva", to[] = "\n\t\r\f\v\a";
    const char *f = c ? strchr(from, c) : NULL;
    if (f) {
        *lit = (unsigned char)to[f - from];
    } else if (c == 'b' && in_class) {
        *lit = '\b';
    } else if (c >= '0' && c <= '9') {
        return fail_(ps, in_class ? "not supported: octal escapes" : "not supported: backreferences (\\1 ...)");
    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
        return fail_(ps, "not supported: this escape (\\b \\B \\A \\Z \\x \\u ... are outside the subset)");
    } else {
        *lit = c;
    }
    return 0;
}

/* One class item at ps->pos: a byte (*lit) or a class escape (*lit -1). */
static int class_item(parser *ps, byteset set, int *lit)
{
    if (ps->s[ps->pos] == '\\')
        return escape(ps, 1, set, lit);
    *lit = (unsigned char)ps->s[ps->pos++];
    return 0;
}

/* [...] at ps->pos, as sre_parse reads it. */
static frag parse_class(parser *ps)
{
    int s = new_state(ps, OP_CHAR);
    if (s < 0)
        return NOFRAG;
    byteset set = {0};
    ps->pos++;
    int negate = ps->pos < ps->len && ps->s[ps->pos] == '^';
    ps->pos += (size_t)negate;
    for (int first = 1;; first = 0) {
        if (ps->pos >= ps->len)
            return fail_(ps, "unterminated character set"), NOFRAG;
        if (ps->s[ps->pos] == ']' && !first) {
            ps->pos++;
            break;
        }
        int lo, hi;
        if (class_item(ps, set, &lo) < 0)
            return NOFRAG;
        if (ps->pos < ps->len && ps->s[ps->pos] == '-') {
            if (ps->pos + 1 >= ps->len)
                return fail_(ps, "unterminated character set"), NOFRAG;
            if (ps->s[ps->pos + 1] == ']') {   /* a trailing '-' is a literal */
                if (lo >= 0)
                    set_add(set, lo);
                set_add(set, '-');
                ps->pos += 2;
                break;
            }
            ps->pos++;
            if (class_item(ps, set, &hi) < 0)
                return NOFRAG;
            if (lo < 0 || hi < 0 || hi < lo)
                return fail_(ps, "bad character range"), NOFRAG;
            set_range(set, lo, hi);
        } else if (lo >= 0) {
            set_add(set, lo);
        }
    }
    for (int i = 0; i < 8; i++)
        ps->p->sets[s][i] = negate ? ~set[i] : set[i];
    return (frag){s, s};
}

// ---- parser ----

static frag parse_alt(parser *ps);

/* A counted repeat {m}, {m,}, {,n}, {m,n} at ps->s[at] ('{'), as
 * sre_parse decides: 1 (with *min, *max, *end past the '}') or 0 when the
 * '{' is a literal. Numbers saturate above the cap (refused by the caller). */
static int counted(const parser *ps, size_t at, int *min, int *max, size_t *end)
{
    const char *s = ps->s;
    size_t i = at + 1;
    if (i >= ps->len || s[i] == '}')
        return 0;
    long v[2] = {-1, -1};
    int comma = 0;
    for (int k = 0; k < 2; k++) {
        while (i < ps->len && s[i] >= '0' && s[i] <= '9') {
            long d = s[i++] - '0';
            v[k] = v[k] < 0 ? d : v[k] > 1000000 ? v[k] : v[k] * 10 + d;
        }
        if (k == 0 && i < ps->len && s[i] == ',') {
            comma = 1;
            i++;
        } else {
            break;
        }
    }
    if (i >= ps->len || s[i] != '}')
        return 0;
    *min = v[0] < 0 ? 0 : (int)(v[0] > 1000000 ? 1000001 : v[0]);
    *max = !comma ? *min : v[1] < 0 ? REPEAT_INF : (int)(v[1] > 1000000 ? 1000001 : v[1]);
    *end = i + 1;
    return 1;
}

/* One atom at ps->pos; *is_assert: it is ^ or $ (nothing to repeat). */
static frag parse_atom(parser *ps, int *is_assert)
{
    int c = (unsigned char)ps->s[ps->pos];
    int mn, mx;
    size_t end;
    *is_assert = 0;
    if (c == '(') {
        ps->pos++;
        if (ps->pos < ps->len && ps->s[ps->pos] == '?') {
            if (ps->pos + 1 >= ps->len || ps->s[ps->pos + 1] != ':')
                return fail_(ps, "not supported: (?...) other than (?:...) (lookaround, named groups, flags)"),
                       NOFRAG;
            ps->pos += 2;
        }
        if (++ps->depth > LSC_PATTERN_MAX_DEPTH)
            return fail_(ps, "groups nested over " STR_(LSC_PATTERN_MAX_DEPTH) " deep"), NOFRAG;
        frag f = parse_alt(ps);
        ps->depth--;
        if (ps->why)
            return NOFRAG;
        if (ps->pos >= ps->len || ps->s[ps->pos] != ')')
            return fail_(ps, "missing ), unterminated subpattern"), NOFRAG;
        ps->pos++;
        return f;
    }
    if (c == '[')
        return parse_class(ps);
    if (c == '*' || c == '+' || c == '?' || (c == '{' && counted(ps, ps->pos, &mn, &mx, &end)))
        return fail_(ps, "nothing to repeat"), NOFRAG;
    if (c == '^' || c == '$') {
        *is_assert = 1;
        ps->pos++;
        return single(ps, c == '^' ? OP_BOL : OP_EOL);
    }
    frag f = single(ps, OP_CHAR);
    if (f.in < 0)
        return NOFRAG;
    byteset *set = &ps->p->sets[f.in];
    int lit = c;
    if (c == '\\') {
        if (escape(ps, 0, *set, &lit) < 0)
            return NOFRAG;
    } else {
        ps->pos++;
    }
    if (c == '.')
        set_range(*set, 0, 255), (*set)[0] &= ~(1u << '\n');
    else if (lit >= 0)
        set_add(*set, lit);
    return f;
}

/* The quantifier at ps->pos, if any: 1 with *min, *max (consumed), else 0. */
static int quantifier(parser *ps, int *min, int *max)
{
    size_t end;
    int c = ps->pos < ps->len ? ps->s[ps->pos] : 0;
    if (c == '*' || c == '+' || c == '?') {
        *min = c == '+';
        *max = c == '?' ? 1 : REPEAT_INF;
        ps->pos++;
        return 1;
    }
    if (c == '{' && counted(ps, ps->pos, min, max, &end)) {
        ps->pos = end;
        return 1;
    }
    return 0;
}

/* Atom and repeat: a counted repeat is expanded into copies of the atom,
 * each made by parsing the atom's text again. */
static frag parse_repeat(parser *ps)
{
    size_t at = ps->pos;
    int is_assert, min, max;
    frag f = parse_atom(ps, &is_assert);
    if (ps->why || !quantifier(ps, &min, &max))
        return f;
    if (is_assert)
        return fail_(ps, "nothing to repeat"), NOFRAG;
    if (max != REPEAT_INF && max < min)
        return fail_(ps, "min repeat greater than max repeat"), NOFRAG;
    if (min > LSC_PATTERN_MAX_REPEAT || max > LSC_PATTERN_MAX_REPEAT)
        return fail_(ps, "counted repeat over " STR_(LSC_PATTERN_MAX_REPEAT)), NOFRAG;
    if (ps->pos < ps->len && ps->s[ps->pos] == '?')
        ps->pos++;   /* lazy: the same language */
    int m2, x2;
    size_t after = ps->pos;
    if (ps->pos < ps->len && ps->s[ps->pos] == '+')
        return fail_(ps, "not supported: possessive repeats"), NOFRAG;
    if (quantifier(ps, &m2, &x2))
        return fail_(ps, "multiple repeat"), NOFRAG;
    frag r = single(ps, OP_EPS);
    int copies = max == REPEAT_INF ? min + 1 : max;
    for (int i = 0; i < copies && !ps->why; i++) {
        frag c = f;
        if (i > 0) {
            ps->pos = at;
            c = parse_atom(ps, &is_assert);
        }
        r = cat(ps, r, i < min ? c : combine(ps, c, NOFRAG, max == REPEAT_INF ? '*' : '?'));
    }
    ps->pos = after;
    return r;
}

static frag parse_concat(parser *ps)
{
    frag f = single(ps, OP_EPS);
    while (!ps->why && ps->pos < ps->len && ps->s[ps->pos] != '|') {
        if (ps->s[ps->pos] == ')') {
            if (ps->depth == 0)
                return fail_(ps, "unbalanced parenthesis"), NOFRAG;
            break;
        }
        f = cat(ps, f, parse_repeat(ps));
    }
    return f;
}

static frag parse_alt(parser *ps)
{
    frag f = parse_concat(ps);
    while (!ps->why && ps->pos < ps->len && ps->s[ps->pos] == '|') {
        ps->pos++;
        f = combine(ps, f, parse_concat(ps), '|');
    }
    return f;
}

// ---- compile, match ----

void lsc_pattern_free(lsc_pattern *p)
{
    if (!p)
        return;
    LSC_FREE(p->st);
    LSC_FREE(p->sets);
    LSC_FREE(p);
}

int lsc_pattern_compile(lsc_pattern **out, const char *key, lsc_error *err)
{
    *out = NULL;
    size_t klen = strlen(key);
    if (klen > LSC_PATTERN_MAX_LEN)
        LSC_FAIL(err, LSC_EARG, "pattern '%.40s...': %zu bytes, over the cap of " STR_(LSC_PATTERN_MAX_LEN),
                 key, klen);
    static const char pre[] = "(.*\\.)?(", post[] = ")$";
    char wrapped[sizeof pre + LSC_PATTERN_MAX_LEN + sizeof post];
    snprintf(wrapped, sizeof wrapped, "%s%s%s", pre, key, post);
    lsc_pattern *p = LSC_CALLOC(1, sizeof *p);
    if (p) {
        p->st = LSC_MALLOC(LSC_PATTERN_MAX_STATES * sizeof *p->st);
        p->sets = LSC_MALLOC(LSC_PATTERN_MAX_STATES * sizeof *p->sets);
    }
    if (!p || !p->st || !p->sets) {
        lsc_pattern_free(p);
        LSC_FAIL(err, LSC_ENOMEM, "pattern '%s': out of memory", key);
    }
    parser ps = {wrapped, 0, strlen(wrapped), p, 0, NULL};
    frag f = parse_alt(&ps);
    if (!ps.why && ps.pos < ps.len)
        fail_(&ps, "unbalanced parenthesis");
    f = cat(&ps, f, single(&ps, OP_MATCH));
    if (ps.why) {
        lsc_pattern_free(p);
        LSC_FAIL(err, LSC_EARG, "pattern '%s': %s", key, ps.why);
    }
    p->start = f.in;
    pstate *st = LSC_REALLOC(p->st, (size_t)p->n * sizeof *st);   /* shrink to the states used */
    p->st = st ? st : p->st;
    byteset *sets = st ? LSC_REALLOC(p->sets, (size_t)p->n * sizeof *sets) : NULL;
    p->sets = sets ? sets : p->sets;
    if (!st || !sets) {   /* (a failing allocator's view: every failure is reported) */
        lsc_pattern_free(p);
        LSC_FAIL(err, LSC_ENOMEM, "pattern '%s': out of memory", key);
    }
    *out = p;
    return LSC_OK;
}

/* Adds state s and what it reaches without input to list (marking with
 * gen); pos is the input position (for ^ and $). 1 when MATCH is reached. */
static int add_closure(const lsc_pattern *p, int s, uint16_t *list, int *nl, uint32_t *mark, uint32_t gen,
                       uint16_t *stack, size_t pos, const char *name, size_t len)
{
    int top = 0, matched = 0;
    if (s < 0 || mark[s] == gen)
        return 0;
    mark[s] = gen;
    stack[top++] = (uint16_t)s;
    while (top > 0) {   /* each state is pushed at most once per gen */
        const pstate *q = &p->st[stack[--top]];
        int go = q->op == OP_SPLIT || q->op == OP_EPS || (q->op == OP_BOL && pos == 0) ||
                 (q->op == OP_EOL && (pos == len || (pos + 1 == len && name[pos] == '\n')));
        if (q->op == OP_CHAR)
            list[(*nl)++] = (uint16_t)(q - p->st);
        matched |= q->op == OP_MATCH;
        int nx[2] = {go ? q->out : -1, q->op == OP_SPLIT ? q->out1 : -1};
        for (int k = 0; k < 2; k++)
            if (nx[k] >= 0 && mark[nx[k]] != gen) {
                mark[nx[k]] = gen;
                stack[top++] = (uint16_t)nx[k];
            }
    }
    return matched;
}

int lsc_pattern_match(const lsc_pattern *p, const char *name)
{
    uint16_t a[LSC_PATTERN_MAX_STATES], b[LSC_PATTERN_MAX_STATES], stack[LSC_PATTERN_MAX_STATES];
    uint32_t mark[LSC_PATTERN_MAX_STATES];
    uint16_t *cur = a, *next = b;
    size_t len = strlen(name);
    memset(mark, 0, (size_t)p->n * sizeof mark[0]);
    uint32_t gen = 1;
    int nc = 0;
    if (add_closure(p, p->start, cur, &nc, mark, gen, stack, 0, name, len))
        return 1;
    for (size_t pos = 0; pos < len && nc > 0; pos++) {
        unsigned c = (unsigned char)name[pos];
        int nn = 0, matched = 0;
        gen++;
        for (int k = 0; k < nc; k++) {
            const pstate *q = &p->st[cur[k]];
            if (p->sets[cur[k]][c >> 5] >> (c & 31) & 1u)
                matched |= add_closure(p, q->out, next, &nn, mark, gen, stack, pos + 1, name, len);
        }
        if (matched)
            return 1;
        uint16_t *t = cur;
        cur = next;
        next = t;
        nc = nn;
    }
    return 0;
}
