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

/*
 * path as one word a POSIX shell reads back as it is: unchanged when it holds only
 * characters no shell treats specially, else in single quotes (each ' as '\''), so that the
 * advice line can be pasted. The caller frees; NULL when out of memory.
 */
static char *shell_word(const char *path)
{
	size_t n = 3;
	char *out, *o;

	if (path[0] != '\0' && strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				      "0123456789_./+-:@%,=") == strlen(path))
		return strdup(path);
	for (const char *c = path; *c; c++)
		n += *c == '\'' ? 4 : 1;
	if ((out = malloc(n)) == NULL)
		return NULL;
	o = out;
	*o++ = '\'';
	for (const char *c = path; *c; c++) {
		if (*c == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *c;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

/*
 * The ca publish line for the CA an issuer_not_distributed names: its file when known (else
 * FILE, the CA's certificate once obtained), and for a root the explicit confirmation that
 * ca publish asks for (SPEC §6).
 */
static char *publish_ca_advice(const smp_problem *p)
{
	char *word = p->ca_file != NULL ? shell_word(p->ca_file) : strdup("FILE");
	char *s = NULL;

	if (word == NULL)
		return NULL;
	if (asprintf(&s, "%s: smimepub ca publish %s%s%s%s", p->ca_file == NULL
		     ? " (get that CA's certificate from the partner and check it with them)" : "",
		     word, p->ca_root ? " --root --fingerprint " : "",
		     p->ca_root && p->ca_sha256 != NULL ? p->ca_sha256 : "", "") < 0)
		s = NULL;
	free(word);
	return s;
}

/* See advice.h. */
char *cli_problem_text(const smp_problem *p)
{
	char *s = NULL, *extra = NULL;
	const char *advice = cli_advice(p);

	if (p->remedy == SMP_REMEDY_PUBLISH_CA) {
		if ((extra = publish_ca_advice(p)) == NULL)
			return NULL;
		advice = extra;
	}
	if (asprintf(&s, "%s%s", p->message != NULL ? p->message : "", advice) < 0)
		s = NULL;
	free(extra);
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
	case SMP_HINT_TRUST_NO_FILE:
		return ": give --ca-file or --ca-dir, or leave file out of --trust";
	case SMP_HINT_TRUST_UNUSED_FILE:
		return ": add file to --trust (e.g. --trust directory,file), or leave out --ca-file "
		       "and --ca-dir";
	case SMP_HINT_IMAP_CA:
		return ": give its CA with --imap-ca-file (default: the system store)";
	case SMP_HINT_IMAP_STARTTLS:
		return ": use imaps://, or give --insecure";
	case SMP_HINT_IMAP_KEYWORD:
		return ": give --done-folder and --failed-folder, so that a processed message leaves "
		       "the mailbox";
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

/* serve's page: advice names its choices, not flags */
static int for_page;

/* See advice.h. */
void cli_advice_for_page(void)
{
	for_page = 1;
}

/* The page's words for the reasons it can act on (cli_reason_advice), or NULL. */
static const char *page_advice(const char *reason)
{
	if (strcmp(reason, "already_has_certificate") == 0)
		return ": choose 'keep both' or 'replace the ones for the same address'";
	if (strcmp(reason, "downgrade") == 0)
		return ": keep it, or publish despite the problems to replace it anyway";
	if (strcmp(reason, "critical_problem") == 0)
		return ": fix them, or publish despite the problems";
	if (strcmp(reason, "not_found") == 0)
		return ": the recipient needs a contact in the directory first";
	return NULL;
}

/* See advice.h. */
const char *cli_reason_advice(const smp_item *it)
{
	if (it->reason == NULL)
		return NULL;
	if (for_page)
		return page_advice(it->reason);
	if (strcmp(it->reason, "already_has_certificate") == 0)
		return ": use --add to keep both or --replace to replace the ones for the same "
		       "address";
	if (strcmp(it->reason, "downgrade") == 0)
		return ": keep it, or use --force to replace it anyway";
	if (strcmp(it->reason, "critical_problem") == 0)
		return ": fix them, or use --force to publish anyway";
	if (strcmp(it->reason, "from_mismatch") == 0)
		return " (--allow-from-mismatch publishes it)";
	if (strcmp(it->reason, "root_from_mail") == 0 && it->cert != NULL) {
		/* one item at a time: the buffer is read before the next call */
		static char buf[256 + SMP_ERROR_MSG_MAX];

		snprintf(buf, sizeof(buf), ": check its SHA-256 fingerprint with the partner, then "
			 "smimepub ca publish --root --fingerprint %s '%s'", it->cert->sha256,
			 it->source != NULL ? it->source : "FILE");
		return buf;
	}
	if (strcmp(it->reason, "untrusted_ca") == 0)
		return ": publish the root it chains to first (smimepub ca publish --root), or "
		       "give the anchor with --ca-file";
	if (strcmp(it->reason, "not_found") == 0 && it->cert != NULL && it->cert->n_emails > 0)
		return ": create the contact first or use --create-contact";
	return NULL;
}
