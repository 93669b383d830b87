/*
 * lsc_pattern.h — PEFT's rank_pattern / alpha_pattern keys as regular
 * expressions of bounded cost (pattern.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_PATTERN_H
#define LSC_PATTERN_H

#include "lsc_error.h"

// ---- patterns (pattern.c) ----

/* Caps: a key of at most LSC_PATTERN_MAX_LEN bytes; a counted repeat
 * {m}, {m,}, {m,n} with m, n at most LSC_PATTERN_MAX_REPEAT; the whole
 * compiled automaton (counted repeats expanded) at most
 * LSC_PATTERN_MAX_STATES states; group nesting at most
 * LSC_PATTERN_MAX_DEPTH; at most LSC_PATTERN_MAX_COUNT keys per
 * rank_pattern or alpha_pattern (peft.c). */
#define LSC_PATTERN_MAX_LEN     1000
#define LSC_PATTERN_MAX_REPEAT  1000
#define LSC_PATTERN_MAX_STATES  8192
#define LSC_PATTERN_MAX_DEPTH   100
#define LSC_PATTERN_MAX_COUNT   1024

typedef struct lsc_pattern lsc_pattern;

/* Compiles key as PEFT does: the whole module name must match Python's
 * re.match(r"(.*\.)?(KEY)$", name) (PEFT's get_pattern_key). The subset:
 * literals, ., [...] classes (ranges, ^ negation, \d \w \s inside), the
 * escapes \d \D \w \W \s \S \n \t \r \f \v \a and \ before punctuation,
 * ( ) and (?: ), |, * + ? and {m} {m,} {,n} {m,n} (lazy forms too), ^ and $.
 * Anything else (backreferences, lookaround, named groups, flags, \b, \A,
 * \x.., possessive repeats) is refused, as is anything over the caps:
 * LSC_EARG with a message naming the key. \d \w \s are ASCII and a name is
 * matched byte by byte (Python matches code points: the same for ASCII
 * names). *out is allocated here; free it with lsc_pattern_free. */
int  lsc_pattern_compile(lsc_pattern **out, const char *key, lsc_error *err);
/* 1 when name matches, else 0: a Thompson simulation of the automaton,
 * O(states · strlen(name)) time, no allocation, no recursion. */
int  lsc_pattern_match(const lsc_pattern *p, const char *name);
void lsc_pattern_free(lsc_pattern *p);

#endif /* LSC_PATTERN_H */
