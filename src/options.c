/* smimepub command line: option table, configuration file, parsing and --help. */
#include "options.h"

#include "advice.h"
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	OPT_INSECURE = 1000,
	OPT_SCHEMA,
	OPT_PAGE_SIZE,
	OPT_CA_FILE,
	OPT_CA_DIR,
	OPT_UNTRUSTED,
	OPT_CRL,
	OPT_AT,
	OPT_WARN_DAYS,
	OPT_FORMAT,
	OPT_OUTPUT,
	OPT_PER_CERTIFICATE,
	OPT_LISTEN,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_IDLE_TIMEOUT,
	OPT_LOGIN_ATTRIBUTE,
	OPT_CRIT_DAYS,
	OPT_JOURNAL,
	OPT_STRICT,
	OPT_ADD,
	OPT_REPLACE,
	OPT_PRUNE_EXPIRED,
	OPT_FORCE,
	OPT_CREATE_CONTACT,
	OPT_OU,
	OPT_FROM_LDIF,
	OPT_FILES_FROM,
	OPT_FINGERPRINT,
	OPT_EXPIRED,
	OPT_ALL,
	OPT_SELECT,
	OPT_ALLOW_FROM_MISMATCH,
	OPT_PUBLISH_INTERMEDIATES,
	OPT_JOBS,
	OPT_CONFIG,
	OPT_TIMEOUT,
	OPT_LIST_OPTIONS,
	OPT_BASH_COMPLETION,
	OPT_LAST,
	OPT_SINCE,
	OPT_RECORD,
	OPT_LIST,
	OPT_ALLOW_OPEN_PASSWORD_FILE,
	OPT_DN,
	OPT_TRUST,
	OPT_ROOT,
	OPT_CA_BASE,
	OPT_IMAP_PASSWORD_FILE,
	OPT_IMAP_TOKEN_FILE,
	OPT_IMAP_CA_FILE,
	OPT_DONE_FOLDER,
	OPT_FAILED_FOLDER,
	OPT_WATCH,
	OPT_MAX_MESSAGE_SIZE,
};

static const struct opt_def opt_defs[] = {
	{ "uri", 'H', 1, 'H', "URI", CMD_DIRECTORY, "LDAP URI (ldap://, ldaps://, ldapi://); default from ldap.conf" },
	{ "base", 'b', 1, 'b', "DN", CMD_DIRECTORY, "search base; default from ldap.conf, else the server's naming context" },
	{ "binddn", 'D', 1, 'D', "DN", CMD_BINDS, "bind DN (AD also takes user@REALM or DOMAIN\\user)" },
	{ "password-file", 'y', 1, 'y', "FILE", CMD_BINDS, "read the bind password from FILE, readable by its owner only (or set SMIMEPUB_PASSWORD)" },
	{ "allow-open-password-file", 0, 0, OPT_ALLOW_OPEN_PASSWORD_FILE, NULL, CMD_BINDS, "accept a -y file that group or others may read (refused by default, as ssh refuses such key files)" },
	{ "prompt", 'W', 0, 'W', NULL, CMD_BINDS, "prompt for the bind password" },
	{ "sasl-mech", 'Y', 1, 'Y', "MECH", CMD_DIRECTORY, "SASL mechanism: EXTERNAL (ldapi://) or GSSAPI (after kinit)" },
	{ "starttls", 'Z', 0, 'Z', NULL, CMD_DIRECTORY, "use StartTLS; -ZZ: require it" },
	{ "insecure", 0, 0, OPT_INSECURE, NULL, CMD_DIRECTORY, "allow a password bind in clear text to a non-loopback host" },
	{ "schema", 0, 1, OPT_SCHEMA, "auto|ad|rfc", CMD_DIRECTORY, "directory profile (default auto: read the root DSE)" },
	{ "page-size", 0, 1, OPT_PAGE_SIZE, "N", CMD_AUDIT | CMD_PRUNE, "entries per page of a paged search (default 500, AD at most 1000)" },
	{ "timeout", 0, 1, OPT_TIMEOUT, "SECONDS", CMD_DIRECTORY, "network timeout (default 30)" },
	{ "trust", 0, 1, OPT_TRUST, "LIST", CMD_INSPECT | CMD_PUBLISH | CMD_LOOKUP | CMD_AUDIT | CMD_PRUNE | CMD_HARVEST | CMD_SERVE, "anchor sources that judge chains, any of directory,system,file: directory = the roots and intermediates the directory distributes (AD: Certification Authorities and AIA; OpenLDAP: pkiCA entries under --ca-base), read once after connecting (inspect then connects too); system = the system store; file = --ca-file/--ca-dir. Default: file when --ca-file/--ca-dir is given, else system" },
	{ "ca-file", 0, 1, OPT_CA_FILE, "FILE", CMD_ALL, "trust anchors (PEM); default: the system store" },
	{ "ca-dir", 0, 1, OPT_CA_DIR, "DIR", CMD_ALL, "directory of hashed trust anchors" },
	{ "untrusted", 0, 1, OPT_UNTRUSTED, "FILE", CMD_ALL, "extra intermediate certificates" },
	{ "crl", 0, 1, OPT_CRL, "FILE", CMD_ALL, "certificate revocation list(s); enables 'revoked'" },
	{ "at", 0, 1, OPT_AT, "TIME", CMD_ALL, "judge validity at TIME (RFC 3339 or YYYY-MM-DD) instead of now" },
	{ "warn-days", 'w', 1, OPT_WARN_DAYS, "N", CMD_ALL, "warn about certificates expiring within N days (default 30; -w only with audit --format nagios)" },
	{ "crit-days", 'c', 1, OPT_CRIT_DAYS, "N", CMD_AUDIT, "audit: a certificate expiring within N days is the critical expiring_soon (default 7; 0: never; -c only with --format nagios)" },
	{ "format", 0, 1, OPT_FORMAT, "text|json|csv|html|nagios|prometheus", CMD_ALL, "output format: text (default), json (JSON Lines) or csv; audit also html (the report page, with --output), nagios (a monitoring plugin's output) and prometheus (node_exporter's textfile, with --output)" },
	{ "output", 0, 1, OPT_OUTPUT, "FILE", CMD_AUDIT, "audit --format html|prometheus: write the report to FILE (through a temporary file in its directory, renamed into place, so a reader never sees half of it)" },
	{ "per-certificate", 0, 0, OPT_PER_CERTIFICATE, NULL, CMD_AUDIT, "audit --format prometheus: also one expiry series per published certificate, labelled with its entry's DN, address and SHA-256 (one series each: mind the directory's size)" },
	{ "dry-run", 'n', 0, 'n', NULL, CMD_PUBLISH | CMD_REMOVE | CMD_PRUNE | CMD_HARVEST | CMD_UNDO | CMD_CA, "print the LDIF that would be applied; change nothing" },
	{ "journal", 0, 1, OPT_JOURNAL, "FILE", CMD_PUBLISH | CMD_REMOVE | CMD_PRUNE | CMD_HARVEST | CMD_UNDO | CMD_CA, "undo journal (default $XDG_STATE_HOME/smimepub/journal.ldif)" },
	{ "last", 0, 0, OPT_LAST, NULL, CMD_UNDO, "undo the changes of the newest run that has any left to undo" },
	{ "since", 0, 1, OPT_SINCE, "TIME", CMD_UNDO, "undo every change made at or after TIME (RFC 3339 or YYYY-MM-DD)" },
	{ "record", 0, 1, OPT_RECORD, "ID", CMD_UNDO, "undo the journal record ID (repeatable; an undo's own records too)" },
	{ "list", 0, 0, OPT_LIST, NULL, CMD_UNDO, "list the journal's records, newest first, and change nothing" },
	{ "strict", 0, 0, OPT_STRICT, NULL, CMD_INSPECT, "exit 1 when any certificate has a critical problem" },
	{ "add", 0, 0, OPT_ADD, NULL, CMD_PUBLISH | CMD_HARVEST, "keep the entry's other certificates and add this one" },
	{ "replace", 0, 0, OPT_REPLACE, NULL, CMD_PUBLISH | CMD_HARVEST, "replace the entry's certificates for the same address, atomically" },
	{ "prune-expired", 0, 0, OPT_PRUNE_EXPIRED, NULL, CMD_PUBLISH | CMD_HARVEST, "also remove the entry's expired certificates for the address" },
	{ "force", 0, 0, OPT_FORCE, NULL, CMD_PUBLISH | CMD_HARVEST | CMD_CA, "publish despite critical problems (they are still printed); ca publish: also an expired CA; ca remove: even while published certificates chain to it" },
	{ "create-contact", 0, 0, OPT_CREATE_CONTACT, NULL, CMD_PUBLISH | CMD_HARVEST, "create a mail-enabled contact when no entry matches (an Exchange mail contact where the schema has Exchange's attributes)" },
	{ "ou", 0, 1, OPT_OU, "DN", CMD_PUBLISH | CMD_HARVEST, "where --create-contact creates contacts (default: the base)" },
	{ "from-ldif", 0, 1, OPT_FROM_LDIF, "FILE", CMD_AUDIT | CMD_PUBLISH | CMD_HARVEST, "read the directory from an LDIF export instead of a server (publish, harvest: with --dry-run only)" },
	{ "files-from", 0, 1, OPT_FILES_FROM, "FILE", CMD_PUBLISH | CMD_INSPECT | CMD_HARVEST, "read input file names from FILE, one per line ('-' = stdin)" },
	{ "fingerprint", 0, 1, OPT_FINGERPRINT, "SHA256", CMD_REMOVE | CMD_CA, "remove the certificate with this SHA-256 fingerprint (or SHA-1 thumbprint); ca publish --root: the SHA-256 of the root you mean to publish; ca remove: of the CA certificate" },
	{ "root", 0, 0, OPT_ROOT, NULL, CMD_CA, "ca publish: also publish roots (with --fingerprint, or confirmed at a terminal): every domain member then trusts them for every purpose" },
	{ "ca-base", 0, 1, OPT_CA_BASE, "DN", CMD_CA | CMD_INSPECT | CMD_PUBLISH | CMD_LOOKUP | CMD_AUDIT | CMD_PRUNE | CMD_HARVEST, "ca, and --trust directory: OpenLDAP's container for CA certificates (default ou=CAs above the base; Active Directory: the configuration partition's Public Key Services)" },
	{ "expired", 0, 0, OPT_EXPIRED, NULL, CMD_REMOVE, "remove every expired certificate" },
	{ "all", 0, 0, OPT_ALL, NULL, CMD_REMOVE, "remove every certificate" },
	{ "dn", 0, 0, OPT_DN, NULL, CMD_REMOVE, "take every argument as a DN (default: an argument that is a valid mailbox is an address, even with '=' in it)" },
	{ "select", 0, 1, OPT_SELECT, "LIST", CMD_PRUNE, "what prune removes: expired,untrusted,superseded (default all three)" },
	{ "allow-from-mismatch", 0, 0, OPT_ALLOW_FROM_MISMATCH, NULL, CMD_HARVEST, "publish even when the signer's address is not the From address" },
	{ "publish-intermediates", 0, 0, OPT_PUBLISH_INTERMEDIATES, NULL, CMD_HARVEST, "also publish the intermediate CA certificates the mail carries where clients take their trust from (as ca publish does), only those that chain to an anchor already trusted; a root never" },
	{ "imap-password-file", 0, 1, OPT_IMAP_PASSWORD_FILE, "FILE", CMD_HARVEST, "harvest imap[s]://: the mailbox's password, from FILE readable by its owner only (or set SMIMEPUB_IMAP_PASSWORD)" },
	{ "imap-oauth2-token-file", 0, 1, OPT_IMAP_TOKEN_FILE, "FILE", CMD_HARVEST, "harvest imap[s]://: log in with the OAuth2 access token in FILE (SASL OAUTHBEARER or XOAUTH2: Exchange Online), read again before every request so that an outside refresher can replace it" },
	{ "imap-ca-file", 0, 1, OPT_IMAP_CA_FILE, "FILE", CMD_HARVEST, "harvest imap[s]://: the CA certificates that vouch for the IMAP server's certificate (default: the system store)" },
	{ "done-folder", 0, 1, OPT_DONE_FOLDER, "FOLDER", CMD_HARVEST, "harvest imap[s]://: move a message whose certificate was taken into FOLDER (created when missing)" },
	{ "failed-folder", 0, 1, OPT_FAILED_FOLDER, "FOLDER", CMD_HARVEST, "harvest imap[s]://: move a message that gave no certificate (unsigned, tampered, refused) into FOLDER (created when missing)" },
	{ "watch", 0, 1, OPT_WATCH, "SECONDS", CMD_HARVEST, "harvest imap[s]://: keep going as a service: look for new messages every SECONDS, reconnect after a lost connection to either server (backing off up to SECONDS), stop between messages on SIGTERM (exit 0)" },
	{ "max-message-size", 0, 1, OPT_MAX_MESSAGE_SIZE, "BYTES", CMD_HARVEST, "harvest imap[s]://: a message larger than this is not fetched but filed as failed (too_large); K, M suffixes (default 10M)" },
	{ "jobs", 'j', 1, 'j', "N", CMD_PUBLISH | CMD_HARVEST | CMD_AUDIT | CMD_PRUNE, "publish, harvest, prune: at most N directory operations in flight at once (default: found by measuring, 8 to 256); audit, prune's walk, publish of 64 files or more: also the processes that analyse certificates, never more than the online CPUs (1: in this process)" },
	{ "config", 0, 1, OPT_CONFIG, "FILE", CMD_ALL, "configuration file (default $XDG_CONFIG_HOME/smimepub/config, /etc/smimepub/config)" },
	{ "quiet", 'q', 0, 'q', NULL, CMD_ALL, "print only what failed or needs action" },
	{ "verbose", 'v', 0, 'v', NULL, CMD_ALL, "say more" },
	{ "help", 'h', 0, 'h', NULL, CMD_ALL, "show help (after a command: that command's help)" },
	{ "version", 'V', 0, 'V', NULL, CMD_ALL, "show the version" },
	{ "list-options", 0, 0, OPT_LIST_OPTIONS, NULL, 0, NULL },
	{ "listen", 0, 1, OPT_LISTEN, "ADDRESS:PORT", CMD_SERVE, "serve: where to listen (default 127.0.0.1:8443; [::1]:PORT for IPv6); without --tls-cert only a loopback address, unless --insecure" },
	{ "tls-cert", 0, 1, OPT_TLS_CERT, "FILE", CMD_SERVE, "serve: HTTPS with this certificate (PEM, with its chain), and --tls-key" },
	{ "tls-key", 0, 1, OPT_TLS_KEY, "FILE", CMD_SERVE, "serve: the private key of --tls-cert (PEM)" },
	{ "login-attribute", 0, 1, OPT_LOGIN_ATTRIBUTE, "ATTR", CMD_SERVE, "serve: a login name that is not a DN is looked up as ATTR below the base, anonymously (OpenLDAP: uid), and its entry bound as" },
	{ "idle-timeout", 0, 1, OPT_IDLE_TIMEOUT, "SECONDS", CMD_SERVE, "serve: a session unused this long ends, and its directory connection closes (default 900)" },
	{ "bash-completion", 0, 0, OPT_BASH_COMPLETION, NULL, CMD_ALL, "print the bash completion script (generated from this option table) and exit" },
	{ NULL, 0, 0, 0, NULL, 0, NULL },
};

const struct cli_command cli_commands[] = {
	{ "inspect", cmd_inspect, CMD_INSPECT, 0, "inspect FILE...",
	  "read certificates or signed mail and print addresses, validity, purposes, chain status and problems" },
	{ "publish", cmd_publish, CMD_PUBLISH, NEEDS_DIRECTORY | WRITES | RECONNECTS, "publish FILE|DIR...",
	  "publish each certificate onto the entry that matches its mailbox address" },
	{ "lookup", cmd_lookup, CMD_LOOKUP, NEEDS_DIRECTORY, "lookup ADDRESS...",
	  "show which value Outlook, OWA, gpgsm and Thunderbird take for a recipient and whether each can encrypt (exit 1 when the verdict is critical)" },
	{ "remove", cmd_remove, CMD_REMOVE, NEEDS_DIRECTORY | WRITES | RECONNECTS,
	  "remove [--dn] ADDRESS|DN... --fingerprint SHA256|--expired|--all",
	  "remove certificates from the entries named" },
	{ "audit", cmd_audit, CMD_AUDIT, NEEDS_DIRECTORY | RECONNECTS, "audit [--from-ldif FILE]",
	  "check every certificate published in the directory (exit 0 clean, 1 warnings, 2 critical, 3 incomplete)" },
	{ "prune", cmd_prune, CMD_PRUNE, NEEDS_DIRECTORY | WRITES | RECONNECTS, "prune [--select expired,untrusted,superseded]",
	  "remove expired, untrusted or superseded certificates across the directory" },
	{ "harvest", cmd_harvest, CMD_HARVEST, NEEDS_DIRECTORY | WRITES | RECONNECTS, "harvest MESSAGE...|imaps://USER@HOST/MAILBOX",
	  "take signer certificates from S/MIME-signed mail (.eml, .p7s, .p7m, mbox, Maildir, an IMAP mailbox) and publish them" },
	{ "undo", cmd_undo, CMD_UNDO, NEEDS_DIRECTORY | WRITES | RECONNECTS, "undo --last|--since TIME|--record ID...",
	  "apply the journal's inverse records, newest first, where the entry is still as the change left it" },
	{ "ca", cmd_ca, CMD_CA, NEEDS_DIRECTORY | WRITES, "ca publish FILE... [--root --fingerprint SHA256] | ca list | ca remove --fingerprint SHA256",
	  "partner CA certificates where clients take their trust from (AD: Public Key Services; OpenLDAP: --ca-base)" },
	{ "serve", cmd_serve, CMD_SERVE, NEEDS_DIRECTORY, "serve [--listen ADDRESS:PORT] [--tls-cert FILE --tls-key FILE]",
	  "the helpdesk's HTTP API: people log in with their own directory account (SPEC section 8)" },
	{ NULL, NULL, 0, 0, NULL, NULL },
};

static const char *exit_codes_help =
	"Exit status: 0 done; 1 some items failed or were refused; 64 usage error; 65 bad input\n"
	"data; 66 input file not found; 69 directory unavailable; 77 bind refused or insufficient\n"
	"access. audit: 0 clean, 1 warnings only, 2 critical findings, 3 could not complete.\n"
	"Limits (over them an input is refused as bad input, 65): 16 MiB and 1000 certificates per\n"
	"certificate file or PKCS#7 bundle; 256 MiB, 10000 MIME parts (lines that begin with '--')\n"
	"and 100000 header fields (lines that begin 'Name:') per message, MIME nesting 16; 64 MiB\n"
	"and 10000 mail, proxyAddresses and certificate values per LDIF entry.\n"
	"A writing command stopped by SIGINT/SIGTERM (or a closed output) stops between changes\n"
	"and exits 130/143 (141).\n";

static void print_options(FILE *fp, unsigned mask)
{
	char left[96];

	for (const struct opt_def *d = opt_defs; d->name != NULL; d++) {
		if (d->help == NULL || (d->cmds & mask) == 0)
			continue;
		if (d->shortopt)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", d->shortopt, d->name,
				 d->arg ? " " : "", d->arg ? d->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", d->name, d->arg ? " " : "",
				 d->arg ? d->arg : "");
		if (strlen(left) > 32)  /* a long word list: the text starts below it */
			fprintf(fp, "  %s\n  %-32s %s\n", left, "", d->help);
		else
			fprintf(fp, "  %-32s %s\n", left, d->help);
	}
}

static void print_help(FILE *fp, const struct cli_command *cmd)
{
	if (cmd != NULL) {
		fprintf(fp, "usage: smimepub [CONNECTION] [OPTIONS] %s\n\n%s\n\noptions:\n", cmd->usage,
			cmd->summary);
		print_options(fp, cmd->mask);
		fprintf(fp, "\n%s", exit_codes_help);
		return;
	}
	fprintf(fp, "usage: smimepub [CONNECTION] [OPTIONS] COMMAND [ARGS]\n\n"
		    "Publish S/MIME certificates of external people into Active Directory or LDAP,\n"
		    "and keep them healthy.\n\ncommands:\n");
	for (const struct cli_command *c = cli_commands; c->name != NULL; c++)
		fprintf(fp, "  %-9s %s\n", c->name, c->summary);
	fprintf(fp, "\noptions (any option may stand before or after the command; -- ends them):\n");
	print_options(fp, CMD_ALL);
	fprintf(fp, "\n'smimepub COMMAND --help' shows one command's options.\n%s", exit_codes_help);
}

const struct opt_def *cli_option_table(void)
{
	return opt_defs;
}

/* Every long option, one per line: lets a test check that the man page documents them all. */
static void list_options(void)
{
	for (const struct opt_def *d = opt_defs; d->name != NULL; d++)
		if (d->help != NULL)
			printf("--%s\n", d->name);
}

const char *cli_format_name(enum cli_format f)
{
	static const char *const names[] = { "text", "json", "csv", "html", "nagios",
					     "prometheus" };

	return f >= CLI_FMT_TEXT && f <= CLI_FMT_PROMETHEUS ? names[f] : "?";
}

static int parse_int(int *out, const char *text, const char *what, int min, int max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
		cli_error("invalid %s '%s': expected a number from %d to %d", what, text, min, max);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* A size in bytes, with an optional K or M (KiB, MiB) suffix: 1 KiB to 1 GiB. */
static int parse_size(size_t *out, const char *text, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno == 0 && end != text && text[0] != '-') {
		if (*end == 'K' || *end == 'k')
			v *= 1024, end++;
		else if (*end == 'M' || *end == 'm')
			v *= 1024 * 1024, end++;
	}
	if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < 1024 ||
	    v > 1024ULL * 1024 * 1024) {
		cli_error("invalid %s '%s': expected bytes from 1K to 1024M (K, M suffixes)", what,
			  text);
		return -1;
	}
	*out = (size_t)v;
	return 0;
}

static int parse_select(struct cli_opts *o, const char *text)
{
	char buf[256];
	char *save = NULL;

	if (strlen(text) >= sizeof(buf)) {
		cli_error("invalid --select '%s'", text);
		return -1;
	}
	strcpy(buf, text);
	o->prune_expired_sel = o->prune_untrusted = o->prune_superseded = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "expired") == 0)
			o->prune_expired_sel = 1;
		else if (strcmp(tok, "untrusted") == 0)
			o->prune_untrusted = 1;
		else if (strcmp(tok, "superseded") == 0)
			o->prune_superseded = 1;
		else {
			cli_error("invalid --select value '%s': use expired, untrusted, superseded", tok);
			return -1;
		}
	}
	return 0;
}

/* --trust LIST: directory, system, file, comma-separated, each at most once. */
static int parse_trust(struct cli_opts *o, const char *text)
{
	static const struct { const char *name; unsigned bit; } names[] = {
		{ "directory", SMP_TRUST_DIRECTORY }, { "system", SMP_TRUST_SYSTEM },
		{ "file", SMP_TRUST_FILE },
	};
	unsigned bits = 0;
	const char *p = text;

	while (1) {
		size_t n = strcspn(p, ","), i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (n == strlen(names[i].name) && strncmp(p, names[i].name, n) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0])) {
			cli_error("invalid --trust '%s': use directory, system, file or a list of "
				  "them (directory,system)", text);
			return -1;
		}
		bits |= names[i].bit;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	o->trust.sources = bits;
	return 0;
}

static int apply_option(struct cli_opts *o, int c, char *arg, int *help, int *version)
{
	smp_error err = SMP_ERROR_INIT;

	switch (c) {
	case 'H': o->conn.uri = arg; break;
	case 'b': o->conn.base = arg; break;
	case 'D': o->conn.binddn = arg; break;
	case 'y': o->password_file = arg; break;
	case 'W': o->prompt_password = 1; break;
	case OPT_ALLOW_OPEN_PASSWORD_FILE: o->allow_open_password_file = 1; break;
	case 'Y': o->conn.saslmech = arg; break;
	case 'Z': o->conn.starttls++; break;
	case OPT_INSECURE: o->conn.insecure = 1; break;
	case OPT_SCHEMA:
		if (strcmp(arg, "auto") == 0)
			o->conn.schema = SMP_SCHEMA_AUTO;
		else if (strcmp(arg, "ad") == 0)
			o->conn.schema = SMP_SCHEMA_AD;
		else if (strcmp(arg, "rfc") == 0)
			o->conn.schema = SMP_SCHEMA_RFC;
		else {
			cli_error("invalid --schema '%s': use auto, ad or rfc", arg);
			return -1;
		}
		break;
	case OPT_PAGE_SIZE: return parse_int(&o->conn.page_size, arg, "--page-size", 1, 100000);
	case OPT_TIMEOUT: return parse_int(&o->conn.timeout, arg, "--timeout", 1, 86400);
	case OPT_TRUST: return parse_trust(o, arg);
	case OPT_CA_FILE: o->trust.ca_file = arg; break;
	case OPT_CA_DIR: o->trust.ca_dir = arg; break;
	case OPT_UNTRUSTED: o->trust.untrusted_file = arg; break;
	case OPT_CRL: o->trust.crl_file = arg; break;
	case OPT_AT:
		if (smp_parse_time(&o->trust.at, arg, &err) != 0) {
			cli_error_of(&err);
			return -1;
		}
		break;
	case 'w':
		o->nagios_short = 1;
		/* fall through */
	case OPT_WARN_DAYS: return parse_int(&o->trust.warn_days, arg, "--warn-days", 0, 3650);
	case 'c':
		o->nagios_short = 1;
		/* fall through */
	case OPT_CRIT_DAYS:
		o->crit_days_set = 1;
		return parse_int(&o->trust.crit_days, arg, "--crit-days", 0, 3650);
	case OPT_OUTPUT: o->output = arg; break;
	case OPT_PER_CERTIFICATE: o->per_certificate = 1; break;
	case OPT_LISTEN: o->listen = arg; break;
	case OPT_TLS_CERT: o->tls_cert = arg; break;
	case OPT_TLS_KEY: o->tls_key = arg; break;
	case OPT_LOGIN_ATTRIBUTE: o->login_attribute = arg; break;
	case OPT_IDLE_TIMEOUT: return parse_int(&o->idle_timeout, arg, "--idle-timeout", 1, 86400);
	case OPT_FORMAT:
		for (o->format = CLI_FMT_TEXT; o->format <= CLI_FMT_PROMETHEUS; o->format++)
			if (strcmp(arg, cli_format_name(o->format)) == 0)
				break;
		if (o->format > CLI_FMT_PROMETHEUS) {
			cli_error("invalid --format '%s': use text, json, csv, html, nagios or prometheus",
				  arg);
			return -1;
		}
		o->format_set = 1;
		break;
	case 'n': o->dry_run = 1; break;
	case OPT_JOURNAL: o->journal = arg; break;
	case OPT_STRICT: o->strict = 1; break;
	case OPT_ADD: o->policy.add = 1; break;
	case OPT_REPLACE: o->policy.replace = 1; break;
	case OPT_PRUNE_EXPIRED: o->policy.prune_expired = 1; break;
	case OPT_FORCE: o->policy.force = 1; break;
	case OPT_CREATE_CONTACT: o->create_contact = 1; break;
	case OPT_OU: o->ou = arg; break;
	case OPT_FROM_LDIF: o->from_ldif = arg; break;
	case OPT_FILES_FROM: o->files_from = arg; break;
	case OPT_FINGERPRINT: o->remove.fingerprint = arg; break;
	case OPT_EXPIRED: o->remove.expired = 1; break;
	case OPT_ALL: o->remove.all = 1; break;
	case OPT_DN: o->remove_as_dn = 1; break;
	case OPT_ROOT: o->ca_root = 1; break;
	case OPT_CA_BASE: o->ca_base = arg; break;
	case OPT_LAST: o->undo.last = 1; break;
	case OPT_SINCE:
		if (smp_parse_time(&o->undo.since, arg, &err) != 0) {
			cli_error("invalid --since '%s': %s", arg, err.msg);
			return -1;
		}
		o->undo.has_since = 1;
		break;
	case OPT_RECORD: {
		const char **grown = realloc(o->undo_records,
					     (o->n_undo_records + 1) * sizeof(*grown));

		if (grown == NULL) {
			cli_error("out of memory");
			return -1;
		}
		o->undo_records = grown;
		o->undo_records[o->n_undo_records++] = arg;
		break;
	}
	case OPT_LIST: o->undo_list = 1; break;
	case OPT_SELECT: return parse_select(o, arg);
	case OPT_ALLOW_FROM_MISMATCH: o->allow_from_mismatch = 1; break;
	case OPT_PUBLISH_INTERMEDIATES: o->publish_intermediates = 1; break;
	case OPT_IMAP_PASSWORD_FILE: o->imap_password_file = arg; break;
	case OPT_IMAP_TOKEN_FILE: o->imap_token_file = arg; break;
	case OPT_IMAP_CA_FILE: o->imap_ca_file = arg; break;
	case OPT_DONE_FOLDER: o->done_folder = arg; break;
	case OPT_FAILED_FOLDER: o->failed_folder = arg; break;
	case OPT_WATCH: return parse_int(&o->watch, arg, "--watch", 1, 86400);
	case OPT_MAX_MESSAGE_SIZE: return parse_size(&o->max_message_size, arg, "--max-message-size");
	case 'j': o->jobs_set = 1; return parse_int(&o->jobs, arg, "--jobs", 1, 256);
	case OPT_CONFIG: break; /* handled before parsing */
	case 'q': o->quiet = 1; break;
	case 'v': o->verbose++; o->conn.verbose++; break;
	case 'h': *help = 1; break;
	case 'V': *version = 1; break;
	case OPT_LIST_OPTIONS: list_options(); *version = 2; break;
	case OPT_BASH_COMPLETION: cli_print_bash_completion(stdout); *version = 2; break;
	default:
		return -1;
	}
	return 0;
}

static void build_getopt(struct option *longopts, char *shortopts)
{
	size_t n = 0;
	char *s = shortopts;

	*s++ = ':'; /* default GNU permutation: options may follow the command */
	for (const struct opt_def *d = opt_defs; d->name != NULL; d++) {
		longopts[n].name = d->name;
		longopts[n].has_arg = d->has_arg ? required_argument : no_argument;
		longopts[n].flag = NULL;
		longopts[n].val = d->val;
		n++;
		if (d->shortopt) {
			*s++ = (char)d->shortopt;
			if (d->has_arg)
				*s++ = ':';
		}
	}
	memset(&longopts[n], 0, sizeof(longopts[n]));
	*s = '\0';
}

/* Configuration file lines kept for the life of the process (options borrow from them). */
static char **config_argv;
static int config_argc;

static int config_load(const char *path, int required)
{
	FILE *fp;
	int r;

	fp = fopen(path, "r");
	if (fp == NULL) {
		if (required || errno != ENOENT) {
			cli_error("cannot read configuration '%s': %s", path, strerror(errno));
			return -1;
		}
		return 0;
	}
	r = cli_config_read(fp, path, &config_argv, &config_argc);
	fclose(fp);
	return r;
}

static int config_find_and_load(int argc, char **argv)
{
	const char *explicit = NULL;
	const char *xdg, *home;
	char path[4096];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			explicit = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			explicit = argv[i] + 9;
	}
	if (explicit != NULL)
		return config_load(explicit, 1);
	if (config_load("/etc/smimepub/config", 0) != 0)
		return -1;
	xdg = getenv("XDG_CONFIG_HOME");
	home = getenv("HOME");
	if (xdg != NULL && *xdg != '\0')
		snprintf(path, sizeof(path), "%s/smimepub/config", xdg);
	else if (home != NULL && *home != '\0')
		snprintf(path, sizeof(path), "%s/.config/smimepub/config", home);
	else
		return 0;
	return config_load(path, 0);
}

/*
 * Long options that name where a secret is: getopt_long takes any unambiguous abbreviation,
 * so '--password hunter2' would read the file 'hunter2' and the error would print it. These
 * are accepted only as spelled out in full.
 */
static const char *const exact_options[] = { "password-file", NULL };

/* The length of the option name in a "--name" or "--name=value" argument. */
static size_t long_name_len(const char *arg)
{
	return strcspn(arg + 2, "=");
}

/*
 * Refuses a long option spelled short of an exact_options name (spelled: the argument that
 * named it, "--name" or "--name=value"). Never prints the value that came with it.
 */
static int check_spelling(const char *spelled, int config)
{
	size_t n;

	if (spelled == NULL || strncmp(spelled, "--", 2) != 0)
		return 0;
	n = long_name_len(spelled);
	for (size_t i = 0; n > 0 && exact_options[i] != NULL; i++) {
		const char *name = exact_options[i];

		if (n >= strlen(name) || strncmp(spelled + 2, name, n) != 0)
			continue;
		if (n == strlen("password") && strncmp(spelled + 2, "password", n) == 0)
			cli_error("%s--password is not accepted: a password on the command line can be "
				  "read by every local user (ps, /proc); use -y/--password-file FILE, "
				  "-W or SMIMEPUB_PASSWORD", config ? "configuration: " : "");
		else
			cli_error("%s'--%.*s' must be spelled out as --%s: an option that names a "
				  "secret's file takes no abbreviation", config ? "configuration: " : "",
				  (int)n, spelled + 2, name);
		return -1;
	}
	return 0;
}

static int run_getopt(struct cli_opts *o, int argc, char **argv, int *help, int *version,
		      int config)
{
	struct option longopts[sizeof(opt_defs) / sizeof(opt_defs[0])];
	char shortopts[128];
	int c, idx;

	build_getopt(longopts, shortopts);
	opterr = 0;
	optind = 0; /* full reinitialisation of GNU getopt */
	while ((idx = -1, c = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
		if (c == '?' || c == ':') {
			const char *what = argv[optind - 1];
			/* a long option's name only: what follows '=' may be a secret */
			int n = strncmp(what, "--", 2) == 0 ? (int)long_name_len(what) + 2
							   : (int)strlen(what);

			if (c == ':' && check_spelling(what, config) != 0)
				return -1;  /* '--password' last on the line: the same refusal */
			if (c == ':')
				cli_error("%s%.*s needs an argument", config ? "configuration: " : "",
					  n, what);
			else if (optopt != 0)
				cli_error("%sunknown option '-%c'", config ? "configuration: " : "",
					  optopt);
			else
				cli_error("%sunknown or ambiguous option '%.*s'",
					  config ? "configuration: " : "", n, what);
			return -1;
		}
		if (idx >= 0) {
			/* the option's own argument: the last one taken, or the one before its value */
			const char *spelled = longopts[idx].has_arg != no_argument && optarg != NULL &&
					      optind >= 2 && optarg == argv[optind - 1]
					      ? argv[optind - 2] : argv[optind - 1];

			if (check_spelling(spelled, config) != 0)
				return -1;
		}
		if (apply_option(o, c, optarg, help, version) != 0)
			return -1;
	}
	return optind;
}

const struct cli_command *cli_parse(struct cli_opts *o, int argc, char **argv, int *status)
{
	const struct cli_command *cmd = NULL;
	int help = 0, version = 0, first;
	smp_conn_options conn = SMP_CONN_OPTIONS_INIT;
	smp_trust_options trust = SMP_TRUST_OPTIONS_INIT;
	smp_policy policy = SMP_POLICY_INIT;

	memset(o, 0, sizeof(*o));
	o->conn = conn;
	o->trust = trust;
	o->policy = policy;
	o->jobs = 8;
	o->prune_expired_sel = o->prune_untrusted = o->prune_superseded = 1;
	*status = 64;

	if (config_find_and_load(argc, argv) != 0)
		return NULL;
	if (config_argc > 0) {
		char **cargv = calloc((size_t)config_argc + 2, sizeof(*cargv));
		if (cargv == NULL)
			return NULL;
		cargv[0] = argv[0];
		for (int i = 0; i < config_argc; i++)
			cargv[i + 1] = config_argv[i];
		first = run_getopt(o, config_argc + 1, cargv, &help, &version, 1);
		if (first >= 0 && first < config_argc + 1) {
			cli_error("configuration: unexpected '%s'", cargv[first]);
			first = -1;
		}
		free(cargv);
		if (first < 0)
			return NULL;
	}
	first = run_getopt(o, argc, argv, &help, &version, 0);
	if (first < 0)
		return NULL;
	if (version == 2) {
		*status = 0;
		return NULL;
	}
	if (first < argc) {
		for (const struct cli_command *c = cli_commands; c->name != NULL; c++)
			if (strcmp(c->name, argv[first]) == 0)
				cmd = c;
		if (cmd == NULL) {
			cli_error("unknown command '%s' (see 'smimepub --help')", argv[first]);
			return NULL;
		}
	}
	if (version) {
		printf("smimepub %s\n", SMIMEPUB_VERSION);
		*status = 0;
		return NULL;
	}
	if (help) {
		print_help(stdout, cmd);
		*status = 0;
		return NULL;
	}
	if (cmd == NULL) {
		print_help(stderr, NULL);
		return NULL;
	}
	o->reconnects = (cmd->flags & RECONNECTS) != 0;
	o->args = argv + first + 1;
	o->nargs = argc - first - 1;
	if (o->conn.starttls > 2)
		o->conn.starttls = 2;
	if (!o->format_set)
		o->format = CLI_FMT_TEXT;
	if (o->format >= CLI_FMT_HTML && strcmp(cmd->name, "audit") != 0) {
		cli_error("--format %s is audit's: %s writes text, json or csv",
			  cli_format_name(o->format), cmd->name);
		*status = 64;
		return NULL;
	}
	if (o->nagios_short && o->format != CLI_FMT_NAGIOS) {
		/* the monitoring plugin convention only; elsewhere spelled out */
		cli_error("-w and -c are the thresholds of audit --format nagios: use --warn-days "
			  "and --crit-days");
		*status = 64;
		return NULL;
	}
	if (strcmp(cmd->name, "audit") == 0 && !o->crit_days_set)
		o->trust.crit_days = 7;
	o->progress = !o->quiet && isatty(STDERR_FILENO);
	*status = 0;
	return cmd;
}
