/*
 * smimepub command line: advice keyed by problem code and remedy. The library says what is
 * wrong; the command line adds how to fix it with its own flags, so the same finding reads
 * right in the web page's words there and in these here.
 */
#ifndef SMIMEPUB_ADVICE_H
#define SMIMEPUB_ADVICE_H

#include <jansson.h>

#include "smimepub/engine.h"
#include "smimepub/error.h"
#include "smimepub/problems.h"

/* What the command line appends to p->message ("" when nothing). Static. */
const char *cli_advice(const smp_problem *p);

/* p->message followed by cli_advice(p); the caller frees. NULL when out of memory. */
char *cli_problem_text(const smp_problem *p);

/* {"code", "severity", "message"} of p (message with the advice), and "scope" when not NULL. */
json_t *cli_problem_json(const smp_problem *p, const char *scope);

/*
 * What the command line appends to an engine item's message for its reason (publish's
 * already_has_certificate, critical_problem, not_found; harvest's from_mismatch), or NULL.
 */
const char *cli_reason_advice(const smp_item *it);

/*
 * From now on cli_reason_advice speaks to the helpdesk page's user (serve): its choices
 * ("keep both", "replace", "publish despite the problems") instead of the command's flags.
 */
void cli_advice_for_page(void);

/* What to do about an error with that hint, in this tool's flags ("" for none). */
const char *cli_hint(smp_hint hint);

/* Prints err's message and its hint as cli_error does. */
void cli_error_of(const smp_error *err);

#endif
