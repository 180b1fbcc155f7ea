/* smimepub command line: the advice after each problem's message, in terms of this tool's flags. */
#include "advice.h"

#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* See advice.h. */
const char *cli_advice(const smp_problem *p)
{
	switch (p->remedy) {
	case SMP_REMEDY_GIVE_INTERMEDIATE:
		return " and pass it with --untrusted";
	case SMP_REMEDY_GIVE_ANCHOR:
		return " and add it with --ca-file";
	case SMP_REMEDY_GIVE_SELF_ANCHOR:
		return ", add it with --ca-file";
	case SMP_REMEDY_GIVE_ISSUER_ANCHOR:
		return " with --ca-file";
	case SMP_REMEDY_CHECK_TRUST:
		return "; check the CA certificates given with --ca-file and --untrusted";
	case SMP_REMEDY_PRUNE:
		return " (prune)";
	case SMP_REMEDY_REORDER:
		return " (publish reorders) or prune this one";
	case SMP_REMEDY_CHECK_SENDER:
		return "; check with the sender (harvest refuses it unless --allow-from-mismatch)";
	case SMP_REMEDY_SENDER_ALLOWED:
		return "; published anyway because of --allow-from-mismatch";
	case SMP_REMEDY_OVERRIDE:
		return ", or use --force";
	case SMP_REMEDY_NONE:
	default:
		return "";
	}
}

/* See advice.h. */
char *cli_problem_text(const smp_problem *p)
{
	char *s = NULL;

	if (asprintf(&s, "%s%s", p->message != NULL ? p->message : "", cli_advice(p)) < 0)
		return NULL;
	return s;
}

/* See advice.h. */
json_t *cli_problem_json(const smp_problem *p, const char *scope)
{
	char *text = cli_problem_text(p);
	json_t *obj;

	obj = json_pack("{s:s, s:s, s:s}", "code", p->code, "severity",
			smp_severity_name(p->severity), "message", text != NULL ? text : "");
	if (obj != NULL && scope != NULL)
		json_object_set_new(obj, "scope", json_string(scope));
	free(text);
	return obj;
}

/* See advice.h. */
const char *cli_hint(smp_hint hint)
{
	switch (hint) {
	case SMP_HINT_NO_URI:
		return ": give one with -H or in ldap.conf";
	case SMP_HINT_NO_BASE:
		return ": give the search base with -b";
	case SMP_HINT_NO_PASSWORD:
		return " (use -y FILE, -W or SMIMEPUB_PASSWORD)";
	case SMP_HINT_PLAINTEXT_BIND:
		return ": use ldaps://, -ZZ or --insecure";
	case SMP_HINT_CONTACT_PARENT:
		return ": give --ou or -b";
	case SMP_HINT_JOURNAL_PATH:
		return ", use --journal";
	case SMP_HINT_SCHEMA_AD:
		return "; give --schema ad if it is an export of Active Directory";
	case SMP_HINT_BIND:
		return " (give -D and -W, -y FILE or SMIMEPUB_PASSWORD)";
	case SMP_HINT_CA_DIR:
		return " (--ca-dir wants a directory of hashed certificates; use --ca-file for a file)";
	case SMP_HINT_NONE:
	default:
		return "";
	}
}

/* See advice.h. */
void cli_error_of(const smp_error *err)
{
	cli_error("%s%s", err->msg, cli_hint(err->hint));
}

/* See advice.h. */
const char *cli_reason_advice(const smp_item *it)
{
	if (it->reason == NULL)
		return NULL;
	if (strcmp(it->reason, "already_has_certificate") == 0)
		return ": use --add to keep both or --replace to replace the ones for the same "
		       "address";
	if (strcmp(it->reason, "downgrade") == 0)
		return ": keep it, or use --force to replace it anyway";
	if (strcmp(it->reason, "critical_problem") == 0)
		return ": fix them, or use --force to publish anyway";
	if (strcmp(it->reason, "from_mismatch") == 0)
		return " (--allow-from-mismatch publishes it)";
	if (strcmp(it->reason, "not_found") == 0 && it->cert != NULL && it->cert->n_emails > 0)
		return ": create the contact first or use --create-contact";
	return NULL;
}
