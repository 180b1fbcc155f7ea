/* smimepub lookup: what a mail client finds for a recipient and whether it can encrypt (SPEC §4). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "publish.h"

#define LOOKUP_MAX_VALUES 15       /* Entra ID / Azure AD Connect stops syncing past this */
#define LOOKUP_MAX_VALUE_SIZE 32768 /* Active Directory's limit for one value */

/* One value of userSMIMECertificate or userCertificate on an entry, as a client sees it. */
struct lk_value {
	smp_certinfo *ci;        /* NULL when the value is not a certificate */
	const char *attr;
	size_t position;         /* 1-based within its attribute */
	size_t size;
	int usable;
	int chosen;
};

struct lookup_state {
	struct cli_opts *o;
	struct cli_out out;
	smp_dir *dir;
	smp_trust *trust;
	int status;
};

static void note(struct lookup_state *st, int status)
{
	if (status == 77 || (status == 69 && st->status != 77) || (status == 1 && st->status == 0))
		st->status = status;
}

/* A problem object in the JSON form cli_certinfo_json uses, marked as about the entry. */
static json_t *entry_problem(const char *code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static json_t *entry_problem(const char *code, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	json_t *p;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	p = json_pack("{s:s, s:s, s:s, s:s}", "code", code, "severity",
		      smp_severity_name(smp_problem_severity(code)), "message", msg ? msg : "",
		      "scope", "entry");
	free(msg);
	return p;
}

/* Analyses a userSMIMECertificate value: a PKCS#7 certs-only blob or a bare certificate. */
static smp_certinfo *analyze_smime(const struct berval *bv, const smp_trust *trust)
{
	smp_bundle *b = NULL;
	smp_certinfo *ci = NULL;
	smp_error err = SMP_ERROR_INIT;

	if (smp_bundle_read(&b, (const unsigned char *)bv->bv_val, bv->bv_len, &err) != 0)
		return NULL;
	if (smp_cert_analyze(&ci, smp_bundle_leaf(b, 0), smp_bundle_all(b), trust, &err) != 0)
		ci = NULL;
	smp_bundle_free(b);
	return ci;
}

/* The values of e in the order a client considers them, with the one it takes marked. */
static int load_values(struct lk_value **out, size_t *n, const smp_entry *e,
		       const smp_trust *trust, const smp_profile *prof)
{
	struct lk_value *v = calloc(e->n_smime + e->n_certs + 1, sizeof(*v));
	smp_error err = SMP_ERROR_INIT;
	size_t k = 0;
	int have_chosen = 0;

	*out = NULL;
	*n = 0;
	if (v == NULL)
		return SMP_ERR_NOMEM;
	for (size_t i = 0; i < e->n_smime; i++, k++) {
		v[k].ci = analyze_smime(&e->smime[i], trust);
		v[k].attr = "userSMIMECertificate";
		v[k].position = i + 1;
		v[k].size = e->smime[i].bv_len;
	}
	for (size_t i = 0; i < e->n_certs; i++, k++) {
		if (smp_cert_analyze_der(&v[k].ci, (const unsigned char *)e->certs[i].bv_val,
					 e->certs[i].bv_len, trust, &err) != 0)
			v[k].ci = NULL;
		v[k].attr = e->cert_attrs != NULL && e->cert_attrs[i] != NULL ? e->cert_attrs[i]
									: prof->cert_attr;
		v[k].position = i + 1;
		v[k].size = e->certs[i].bv_len;
	}
	/* Outlook: userSMIMECertificate when it holds anything, else the first usable value */
	for (size_t i = 0; i < k; i++) {
		v[i].usable = v[i].ci != NULL && smp_certinfo_client_usable(v[i].ci);
		if (e->n_smime > 0 && i >= e->n_smime)
			continue;
		if (v[i].usable && !have_chosen) {
			v[i].chosen = 1;
			have_chosen = 1;
		}
	}
	*out = v;
	*n = k;
	return 0;
}

static void free_values(struct lk_value *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		smp_certinfo_free(v[i].ci);
	free(v);
}

/* The findings about the entry as a whole (SPEC §3 directory-side codes). */
static json_t *entry_findings(const smp_entry *e, const char *addr, const struct lk_value *v,
			      size_t n, size_t n_entries)
{
	json_t *arr = json_array();
	int smime_usable = 0;

	for (size_t i = 0; i < e->n_smime && i < n; i++)
		smime_usable |= v[i].usable;
	if (n_entries > 1)
		json_array_append_new(arr, entry_problem("ambiguous",
			"%zu entries have the address '%s': clients may pick any of them; give each "
			"a distinct address or remove the duplicate", n_entries, addr));
	if (smp_entry_has_address(e, addr) == 1)
		json_array_append_new(arr, entry_problem("no_mail_attribute",
			"'%s' is only in proxyAddresses: gpgsm and Thunderbird look up the mail "
			"attribute and will not find the certificate; set mail on the entry", addr));
	if (e->n_certs > LOOKUP_MAX_VALUES)
		json_array_append_new(arr, entry_problem("too_many_values",
			"the entry holds %zu certificates: Entra ID (Azure AD Connect) stops "
			"syncing the attribute past %d; remove old ones (smimepub prune)",
			e->n_certs, LOOKUP_MAX_VALUES));
	if (e->n_smime > 0 && !smime_usable)
		json_array_append_new(arr, entry_problem("smime_attr_shadows",
			"userSMIMECertificate is set but holds no usable certificate: Outlook "
			"reads it first and never looks at userCertificate; clear it"));
	if (e->n_certs > 0 && !v[e->n_smime].usable)
		json_array_append_new(arr, entry_problem("first_unusable",
			"the first userCertificate value cannot be used to encrypt: OWA and gpgsm "
			"take the first value; put a valid certificate first (smimepub publish "
			"re-orders) or remove this one"));
	return arr;
}

static void value_record(struct lookup_state *st, const char *addr, const smp_entry *e,
			 const struct lk_value *v, json_t *findings)
{
	json_t *obj, *problems;
	const char *what = v->chosen ? "the certificate a mail client encrypts with"
		: v->usable ? "usable, but a client takes another value first"
			    : "not usable to encrypt";

	obj = json_object();
	if (st->out.format == CLI_FMT_TEXT)
		json_object_set_new(obj, "file", json_string(addr));
	json_object_set_new(obj, "address", json_string(addr));
	json_object_set_new(obj, "dn", json_string(e->dn));
	json_object_set_new(obj, "attribute", json_string(v->attr));
	json_object_set_new(obj, "position", json_integer((json_int_t)v->position));
	json_object_set_new(obj, "chosen", json_boolean(v->chosen));
	json_object_set_new(obj, "usable", json_boolean(v->usable));
	json_object_set_new(obj, "message", json_string(""));
	if (v->ci != NULL) {
		json_object_update_new(obj, cli_certinfo_json(v->ci));
	} else {
		json_object_set_new(obj, "problems", json_array());
		json_array_append_new(json_object_get(obj, "problems"),
			json_pack("{s:s, s:s, s:s}", "code", "malformed", "severity", "critical",
				  "message", "this value is not a certificate: remove it "
				  "(smimepub remove --fingerprint)"));
	}
	problems = json_object_get(obj, "problems");
	if (v->size > LOOKUP_MAX_VALUE_SIZE)
		json_array_append_new(problems, entry_problem("too_large",
			"the value is %zu bytes: Active Directory refuses more than %d", v->size,
			LOOKUP_MAX_VALUE_SIZE));
	if (findings != NULL)
		json_array_extend(problems, findings);
	{
		char *m = NULL;
		if (asprintf(&m, "%s value %zu on '%s': %s", v->attr, v->position, e->dn, what) >= 0) {
			json_object_set_new(obj, "message", json_string(m));
			free(m);
		}
	}
	cli_out_record(&st->out, obj);
}

/* The per-address record when no usable certificate was found (on e, or anywhere when NULL). */
static void unusable_record(struct lookup_state *st, const char *addr, const smp_entry *e,
			    const char *reason, const char *message, json_t *findings)
{
	json_t *obj = json_object();

	if (st->out.format == CLI_FMT_TEXT)
		json_object_set_new(obj, "file", json_string(addr));
	json_object_set_new(obj, "address", json_string(addr));
	json_object_set_new(obj, "dn", e != NULL ? json_string(e->dn) : json_null());
	json_object_set_new(obj, "usable", json_false());
	json_object_set_new(obj, "reason", json_string(reason));
	json_object_set_new(obj, "message", json_string(message));
	json_object_set_new(obj, "problems", findings != NULL ? json_incref(findings) : json_array());
	cli_out_record(&st->out, obj);
}

/* Reports one entry; returns 1 when a client finds a usable certificate on it. */
static int lookup_entry(struct lookup_state *st, const char *addr, const smp_entry *e,
			size_t n_entries)
{
	struct lk_value *v = NULL;
	size_t n = 0, chosen = (size_t)-1;
	json_t *findings;
	char *msg = NULL;

	if (load_values(&v, &n, e, st->trust, smp_dir_profile(st->dir)) != 0) {
		cli_error("cannot look up '%s': out of memory", addr);
		note(st, 1);
		return 0;
	}
	findings = entry_findings(e, addr, v, n, n_entries);
	for (size_t i = 0; i < n; i++)
		if (v[i].chosen)
			chosen = i;
	for (size_t i = 0; i < n; i++)
		value_record(st, addr, e, &v[i], i == chosen ? findings : NULL);
	if (chosen == (size_t)-1) {
		const char *reason = n == 0 ? "no_certificate" : "no_usable_certificate";

		if (asprintf(&msg, n == 0 ? "'%s' holds no certificate: a mail client cannot "
					    "encrypt to '%s'; publish one with smimepub publish"
					  : "none of the certificates on '%s' is usable: a mail "
					    "client cannot encrypt to '%s'",
			     e->dn, addr) < 0)
			msg = NULL;
		unusable_record(st, addr, e, reason, msg ? msg : "", findings);
		free(msg);
	}
	json_decref(findings);
	free_values(v, n);
	return chosen != (size_t)-1;
}

/* Reports what a client finds for one address; returns 1 when it can encrypt to it. */
static int lookup_address(struct lookup_state *st, const char *arg)
{
	char *addr = NULL;
	smp_entry **found = NULL;
	size_t nfound = 0;
	smp_error err = SMP_ERROR_INIT;
	int usable = 0, r;

	if (smp_address_normalize(&addr, arg, strlen(arg), &err) != 0) {
		char *msg = NULL;
		if (asprintf(&msg, "'%s' is not a mail address: %s", arg, err.msg) < 0)
			msg = NULL;
		unusable_record(st, arg, NULL, "bad_address", msg ? msg : err.msg, NULL);
		free(msg);
		return 0;
	}
	if ((r = smp_dir_find_by_address(st->dir, addr, &found, &nfound, &err)) != 0) {
		cli_error("cannot look up '%s': %s", addr, err.msg);
		note(st, smp_exit_status(r) == 0 ? 1 : smp_exit_status(r));
		free(addr);
		return 0;
	}
	if (nfound == 0) {
		char *msg = NULL;
		if (asprintf(&msg, "no entry has '%s' in mail or proxyAddresses: a mail client "
			     "cannot encrypt to it", addr) < 0)
			msg = NULL;
		unusable_record(st, addr, NULL, "not_found", msg ? msg : "", NULL);
		free(msg);
	}
	for (size_t i = 0; i < nfound; i++)
		usable |= lookup_entry(st, addr, found[i], nfound);
	smp_entries_free(found, nfound);
	free(addr);
	return usable;
}

int cmd_lookup(struct cli_opts *o)
{
	struct lookup_state st;
	smp_error err = SMP_ERROR_INIT;
	int r;

	memset(&st, 0, sizeof(st));
	st.o = o;
	cli_out_init(&st.out, o, stdout);
	if (o->nargs == 0) {
		cli_error("lookup needs at least one ADDRESS");
		return 64;
	}
	if ((r = cli_trust(&st.trust, o, &err)) != 0) {
		cli_error("%s", err.msg);
		return smp_exit_status(r);
	}
	if ((r = cli_connect(&st.dir, o, &err)) != 0) {
		cli_error("%s", err.msg);
		smp_trust_free(st.trust);
		return smp_exit_status(r);
	}
	for (int i = 0; i < o->nargs; i++)
		if (!lookup_address(&st, o->args[i]))
			note(&st, 1);
	smp_dir_close(st.dir);
	smp_trust_free(st.trust);
	return st.status;
}
