/*
 * publish_and_audit: publishes one certificate onto the directory entry of its address, then
 * audits every certificate under the base and prints a summary. A whole program written
 * against the installed library only:
 *
 *   cc -o publish_and_audit publish_and_audit.c $(pkg-config --cflags --libs smimepub)
 *   publish_and_audit -H ldap://127.0.0.1:3389 -D cn=admin,dc=example,dc=test -y PWFILE \
 *       -b ou=partners,dc=example,dc=test --ca-file root.pem [--at 2026-06-01] \
 *       [--journal FILE] CERT
 *
 * Publishing goes through the engine (include/smimepub/engine.h), exactly as `smimepub
 * publish` does; the audit spells out its steps (walk, audit each entry, summarise) with the
 * lower-level calls. The conventions it relies on (return codes, smp_error, ownership) are at the top of
 * <smimepub/smimepub.h>.
 *
 * Exit status: 0 when the certificate is on the entry afterwards (published now or before)
 * and the audit ran; 1 when the policy refused to publish it; otherwise smp_exit_status of
 * the error (66 unreadable file, 69 directory unavailable, 77 bind refused ...).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smimepub/smimepub.h>

/* ---- publishing one certificate: the engine ---------------------------------------------- */

struct publish_run {
	int refused;
};

/* The engine reports each certificate of the file as an item: print it, remember a refusal. */
static int on_item(const smp_item *it, void *ctx)
{
	struct publish_run *run = ctx;

	printf("publish %s: %s%s%s\n  %s\n",
	       it->cert != NULL && it->cert->n_emails > 0 ? it->cert->emails[0] : "-", it->action,
	       it->reason != NULL ? " " : "", it->reason != NULL ? it->reason : "",
	       it->dn != NULL ? it->dn : it->message);
	if (it->status != 0)
		run->refused = 1;
	return 0;
}

/*
 * Publishes the certificate(s) in cert_path through one engine session: matched by address
 * (then subject DN), planned, journalled, written as one exact-value modify.
 */
static int publish(smp_dir *dir, const smp_trust *trust, const char *cert_path,
		   const char *journal_path, int *refused, smp_error *err)
{
	smp_session_options so = SMP_SESSION_OPTIONS_INIT;
	smp_publish_options po = SMP_PUBLISH_OPTIONS_INIT;
	struct publish_run run = { 0 };
	smp_session *session = NULL;
	int r;

	so.dir = dir;
	so.trust = trust;
	so.journal = journal_path;
	so.command = "publish_and_audit";
	po.on_item = on_item;
	po.ctx = &run;
	if ((r = smp_session_new(&session, &so, err)) != 0)
		return r;
	r = smp_publish_paths(session, &po, &cert_path, 1, err);
	*refused = run.refused || smp_session_status(session) != 0;
	smp_session_free(session);
	return r;
}

/* ---- auditing the directory --------------------------------------------------------------- */

struct audit_run {
	const smp_trust *trust;
	smp_audit_summary *summary;
	smp_error *err;
};

/* smp_dir_walk's callback: audits one entry into the summary (the entry is borrowed). */
static int audit_one(const smp_entry *e, void *ctx)
{
	struct audit_run *run = ctx;
	smp_audit_entry *a = NULL;
	int r;

	if ((r = smp_audit_entry_run(&a, e, run->trust, run->err)) == 0)
		r = smp_audit_summary_add(run->summary, a, run->err);
	smp_audit_entry_free(a);
	return r;
}

/* Audits every entry holding a certificate under the base and prints the summary. */
static int audit(smp_dir *dir, const smp_trust *trust, smp_error *err)
{
	struct audit_run run = { trust, NULL, err };
	int r;

	if ((r = smp_audit_summary_new(&run.summary, err)) != 0 ||
	    (r = smp_dir_walk(dir, audit_one, NULL, &run, err)) != 0)
		goto out;
	printf("audit %s: %zu entries, %zu values, %zu critical, %zu warnings\n",
	       smp_dir_base(dir), smp_audit_summary_entries(run.summary),
	       smp_audit_summary_values(run.summary),
	       smp_audit_summary_severity_count(run.summary, SMP_SEV_CRITICAL),
	       smp_audit_summary_severity_count(run.summary, SMP_SEV_WARNING));
	for (size_t i = 0; i < smp_audit_summary_n_codes(run.summary); i++) {
		size_t count;
		const char *code = smp_audit_summary_code(run.summary, i, &count);

		printf("  %-22s %zu\n", code, count);
	}
out:
	smp_audit_summary_free(run.summary);
	return r;
}

/* ---- the program -------------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: publish_and_audit -H URI -D BINDDN -y PWFILE [-b BASE] "
		"--ca-file CA [--at TIME] [--journal FILE] CERT\n");
	exit(64);
}

/* The password in path, without the line end. Caller frees. */
static int read_password(char **out, const char *path, smp_error *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = smp_read_file(&data, &len, path, 4096, err)) != 0)
		return r;
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = '\0';
	*out = (char *)data;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ca-file", required_argument, NULL, 'C' },
		{ "at", required_argument, NULL, 'T' },
		{ "journal", required_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	smp_conn_options conn = SMP_CONN_OPTIONS_INIT;
	smp_trust_options topts = SMP_TRUST_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_trust *trust = NULL;
	smp_dir *dir = NULL;
	const char *pwfile = NULL, *journal_path = NULL;
	char *password = NULL;
	int c, refused = 0, r;

	while ((c = getopt_long(argc, argv, "H:D:y:b:", longopts, NULL)) != -1) {
		if (c == 'H')
			conn.uri = optarg;
		else if (c == 'D')
			conn.binddn = optarg;
		else if (c == 'y')
			pwfile = optarg;
		else if (c == 'b')
			conn.base = optarg;
		else if (c == 'C')
			topts.ca_file = optarg;
		else if (c == 'J')
			journal_path = optarg;
		else if (c != 'T')
			usage();
		else if (smp_parse_time(&topts.at, optarg, &err) != 0) {
			fprintf(stderr, "publish_and_audit: %s\n", err.msg);
			return 64;
		}
	}
	if (optind != argc - 1 || topts.ca_file == NULL)
		usage();

	r = pwfile != NULL ? read_password(&password, pwfile, &err) : 0;
	conn.password = password;
	if (r == 0)
		r = smp_trust_new(&trust, &topts, &err);
	if (r == 0)
		r = smp_dir_open(&dir, &conn, &err);
	if (r == 0)
		r = publish(dir, trust, argv[optind], journal_path, &refused, &err);
	if (r == 0)
		r = audit(dir, trust, &err);
	if (r != 0)
		fprintf(stderr, "publish_and_audit: %s\n", err.msg);
	smp_dir_close(dir);
	smp_trust_free(trust);
	free(password);
	return r != 0 ? smp_exit_status(r) : refused;
}
