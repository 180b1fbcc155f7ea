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
 * It shows the library API as it is today: the steps `smimepub publish` and `smimepub audit`
 * take (read, analyse, find, plan, journal, modify; walk, audit, summarise) are spelled out
 * one function each, so that each can be swapped for the engine call that will do it in one
 * go. The conventions it relies on (return codes, smp_error, ownership) are at the top of
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

/* ---- publishing one certificate ----------------------------------------------------------- */

/* The analyses of an entry's values, as smp_plan_publish wants them (NULL: not a certificate). */
static int analyze_existing(smp_certinfo ***out, const smp_entry *e, const smp_trust *trust,
			    smp_error *err)
{
	smp_certinfo **info;

	*out = NULL;
	if ((info = calloc(e->n_certs + 1, sizeof(*info))) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < e->n_certs; i++) {
		smp_error ignored = SMP_ERROR_INIT;

		if (smp_cert_analyze_der(&info[i], (const unsigned char *)e->certs[i].bv_val,
					 e->certs[i].bv_len, trust, &ignored) == SMP_ERR_NOMEM) {
			for (size_t k = 0; k < i; k++)
				smp_certinfo_free(info[k]);
			free(info);
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		}
	}
	*out = info;
	return 0;
}

/* The attribute value v was read in (a delete must name it; slapd says ";binary"). */
static const char *attr_of(const smp_entry *e, const struct berval *v, const char *fallback)
{
	for (size_t i = 0; i < e->n_certs; i++)
		if (e->certs[i].bv_val == v->bv_val && e->cert_attrs != NULL && e->cert_attrs[i])
			return e->cert_attrs[i];
	return fallback;
}

/*
 * Carries out plan on e: one change per value deleted, one adding the values to add, all in
 * one modify, with the undo record in the journal first.
 */
static int apply_plan(smp_dir *dir, const smp_entry *e, const smp_plan *plan,
		      const char *journal_path, smp_error *err)
{
	smp_journal *journal = NULL;
	smp_change *changes;
	size_t n = 0;
	int r = SMP_ERR_INTERNAL;

	if (plan->n_del == 0 && plan->n_add == 0)
		return 0;
	if ((changes = calloc(plan->n_del + 1, sizeof(*changes))) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < plan->n_del; i++) {
		changes[n].attr = attr_of(e, &plan->del[i], smp_dir_profile(dir)->cert_attr);
		changes[n].del = &plan->del[i];
		changes[n++].n_del = 1;
	}
	if (plan->n_add > 0) {
		changes[n].attr = smp_dir_profile(dir)->cert_attr;
		changes[n].add = plan->add;
		changes[n++].n_add = plan->n_add;
	}
	if ((r = smp_journal_open(&journal, journal_path, err)) != 0 ||
	    (r = smp_journal_record(journal, e->dn, changes, n, err)) != 0 ||
	    (r = smp_dir_modify(dir, e->dn, changes, n, err)) != 0)
		goto out;
	r = 0;
out:
	smp_journal_close(journal);
	free(changes);
	return r;
}

/* The one entry whose mail or proxyAddresses is addr (caller frees with smp_entries_free). */
static int find_entry(smp_entry ***out, size_t *n, smp_dir *dir, const char *addr,
		      smp_error *err)
{
	int r;

	if ((r = smp_dir_find_by_address(dir, addr, out, n, err)) != 0 || *n == 1)
		return r;
	return smp_error_set(err, *n == 0 ? SMP_ERR_NOTFOUND : SMP_ERR_AMBIGUOUS,
			     "%zu directory entries for '%s'", *n, addr);
}

/* Plans publishing the certificate of info onto e and carries the plan out. */
static int publish_to(smp_dir *dir, const smp_entry *e, const smp_certinfo *info,
		      const smp_trust *trust, const char *journal_path, smp_action *action,
		      smp_error *err)
{
	smp_certinfo **existing_info = NULL;
	smp_existing existing;
	smp_policy policy = SMP_POLICY_INIT;  /* publish only where no other certificate is */
	smp_plan *plan = NULL;
	unsigned char *der = NULL;
	struct berval newder;
	int der_len;
	int r = SMP_ERR_INTERNAL;

	if ((r = analyze_existing(&existing_info, e, trust, err)) != 0)
		goto out;
	existing.values = e->certs;
	existing.info = existing_info;
	existing.n = e->n_certs;
	if ((der_len = i2d_X509(info->x509, &der)) <= 0) {
		r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot encode '%s'", info->subject);
		goto out;
	}
	newder.bv_len = (ber_len_t)der_len;
	newder.bv_val = (char *)der;
	if ((r = smp_plan_publish(&plan, &existing, &newder, info, &policy)) != 0) {
		r = smp_error_set(err, r, "out of memory");  /* its only error */
		goto out;
	}
	if ((r = apply_plan(dir, e, plan, journal_path, err)) != 0)
		goto out;
	printf("publish %s: %s%s%s\n  %s\n", info->emails[0], smp_action_name(plan->action),
	       plan->reason != NULL ? " " : "", plan->reason != NULL ? plan->reason : "", e->dn);
	*action = plan->action;
	r = 0;
out:
	smp_plan_free(plan);
	OPENSSL_free(der);
	for (size_t i = 0; existing_info != NULL && i < e->n_certs; i++)
		smp_certinfo_free(existing_info[i]);
	free(existing_info);
	return r;
}

/* Reads cert_path, finds the one entry of its address and publishes it there (SPEC §4). */
static int publish(smp_dir *dir, const smp_trust *trust, const char *cert_path,
		   const char *journal_path, int *refused, smp_error *err)
{
	smp_bundle *bundle = NULL;
	smp_certinfo *info = NULL;
	smp_entry **entries = NULL;
	size_t n_entries = 0;
	smp_action action = SMP_ACT_UNCHANGED;
	int r = SMP_ERR_INTERNAL;

	*refused = 0;
	if ((r = smp_bundle_read_file(&bundle, cert_path, err)) != 0)
		goto out;
	if (smp_bundle_leaf_count(bundle) != 1) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "'%s' holds %zu leaf certificates, not one",
				  cert_path, smp_bundle_leaf_count(bundle));
		goto out;
	}
	/* the rest of the bundle (intermediates) helps build the chain */
	if ((r = smp_cert_analyze(&info, smp_bundle_leaf(bundle, 0), smp_bundle_all(bundle),
				  trust, err)) != 0)
		goto out;
	if (info->n_emails == 0) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "'%s' names no mail address", cert_path);
		goto out;
	}
	if ((r = find_entry(&entries, &n_entries, dir, info->emails[0], err)) != 0 ||
	    (r = publish_to(dir, entries[0], info, trust, journal_path, &action, err)) != 0)
		goto out;
	*refused = action == SMP_ACT_SKIPPED;
	r = 0;
out:
	smp_entries_free(entries, n_entries);
	smp_certinfo_free(info);
	smp_bundle_free(bundle);
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
