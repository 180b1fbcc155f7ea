/* Trust context: anchors, extra intermediates, CRLs and the moment of judgement; time parsing. */
#include "smimepub/cert.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* One CA certificate t was given, and where from (for smp_trust_source_of). */
struct ca_rec {
	X509 *x;            /* owned reference */
	unsigned sources;   /* SMP_SOURCE_* */
	char *file;         /* owned, or NULL */
};

struct smp_trust {
	X509_STORE *store;
	STACK_OF(X509) *untrusted;  /* owned references */
	unsigned sources;           /* SMP_TRUST_*, the default resolved */
	struct ca_rec *recs;        /* every CA added from a file or the directory */
	size_t n_recs;
	X509_STORE *system;         /* the system store alone, to tell what it provides; NULL
				       unless SMP_TRUST_SYSTEM */
	X509_STORE *ca_dir;         /* the --ca-dir anchors alone, or NULL */
	/*
	 * What the two stores above said about a CA already asked: a store lookup of a name it
	 * does not hold reads its hashed directory again every time (0.5 ms a chain for the
	 * system store), and a run meets the same few CAs on every certificate. Guarded: the
	 * context is shared, const, by everything that judges.
	 */
	pthread_mutex_t asked_lock;
	struct ca_rec *asked;       /* file unused; sources: SMP_SOURCE_FILE / SYSTEM found */
	size_t n_asked;
	STACK_OF(X509_CRL) *crls;   /* owned references, NULL when no CRL was given */
	time_t at;
	int warn_days;
	int crit_days;
	EVP_MD *sha256;             /* fetched once: EVP_sha256() looks it up on every use */
};

/* Remembers that source provides x (read from file, may be NULL). 0 or SMP_ERR_NOMEM. */
static int remember(smp_trust *t, X509 *x, unsigned source, const char *file)
{
	struct ca_rec *nv;
	char *f = NULL;

	for (size_t i = 0; i < t->n_recs; i++) {
		if (X509_cmp(t->recs[i].x, x) != 0)
			continue;
		/* the first file named stays: it is the one the advice names */
		if (t->recs[i].file == NULL && file != NULL &&
		    (t->recs[i].file = strdup(file)) == NULL)
			return SMP_ERR_NOMEM;
		t->recs[i].sources |= source;
		return 0;
	}
	if (file != NULL && (f = strdup(file)) == NULL)
		return SMP_ERR_NOMEM;
	if ((nv = realloc(t->recs, (t->n_recs + 1) * sizeof(*nv))) == NULL) {
		free(f);
		return SMP_ERR_NOMEM;
	}
	t->recs = nv;
	if (!X509_up_ref(x)) {
		free(f);
		return SMP_ERR_NOMEM;
	}
	nv[t->n_recs].x = x;
	nv[t->n_recs].sources = source;
	nv[t->n_recs].file = f;
	t->n_recs++;
	return 0;
}

/* See cert.h. */
int smp_trust_add_ca(smp_trust *t, X509 *x, unsigned source, int anchor, const char *file,
		     smp_error *err)
{
	if (t == NULL || x == NULL)
		return smp_error_set(err, SMP_ERR_INTERNAL, "smp_trust_add_ca: null argument");
	if (anchor) {
		if (!X509_STORE_add_cert(t->store, x)) {
			ERR_clear_error();
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		}
	} else {
		if (!X509_up_ref(x))
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		if (sk_X509_push(t->untrusted, x) <= 0) {
			X509_free(x);
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		}
	}
	if (remember(t, x, source, file) != 0)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	return 0;
}

static int load_ca_file(smp_trust *t, const char *path, smp_error *err)
{
	smp_bundle *b = NULL;
	STACK_OF(X509) *all;
	int r;

	if ((r = smp_bundle_read_file(&b, path, err)) != 0)
		return r;
	all = smp_bundle_all(b);
	for (int i = 0; i < sk_X509_num(all); i++) {
		if (!X509_STORE_add_cert(t->store, sk_X509_value(all, i))) {
			r = smp_error_openssl(err, SMP_ERR_BADINPUT,
					      "cannot use '%s' as trust anchors", path);
			break;
		}
		if (remember(t, sk_X509_value(all, i), SMP_SOURCE_FILE, path) != 0) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			break;
		}
	}
	smp_bundle_free(b);
	return r;
}

static int load_untrusted(smp_trust *t, const char *path, smp_error *err)
{
	smp_bundle *b = NULL;
	STACK_OF(X509) *all;
	int r;

	if ((r = smp_bundle_read_file(&b, path, err)) != 0)
		return r;
	all = smp_bundle_all(b);
	for (int i = 0; i < sk_X509_num(all) && r == 0; i++)
		r = smp_trust_add_ca(t, sk_X509_value(all, i), SMP_SOURCE_UNTRUSTED, 0, path, err);
	smp_bundle_free(b);
	return r;
}

/* Whether store holds x itself (by subject, then the exact certificate). */
static int store_has(X509_STORE *store, X509 *x)
{
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *found = NULL;
	int has = 0;

	if (store == NULL || (ctx = X509_STORE_CTX_new()) == NULL)
		return 0;
	if (X509_STORE_CTX_init(ctx, store, NULL, NULL) &&
	    (found = X509_STORE_CTX_get1_certs(ctx, X509_get_subject_name(x))) != NULL)
		for (int i = 0; i < sk_X509_num(found) && !has; i++)
			has = X509_cmp(sk_X509_value(found, i), x) == 0;
	sk_X509_pop_free(found, X509_free);
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return has;
}

/* SMP_SOURCE_FILE / SYSTEM for x from t's --ca-dir and system stores, asked once per CA. */
static unsigned stores_have(smp_trust *t, X509 *x)
{
	struct ca_rec *nv;
	unsigned src = 0;

	pthread_mutex_lock(&t->asked_lock);
	for (size_t i = 0; i < t->n_asked; i++) {
		if (X509_cmp(t->asked[i].x, x) == 0) {
			src = t->asked[i].sources;
			pthread_mutex_unlock(&t->asked_lock);
			return src;
		}
	}
	if (t->ca_dir != NULL && store_has(t->ca_dir, x))
		src |= SMP_SOURCE_FILE;
	if (t->system != NULL && store_has(t->system, x))
		src |= SMP_SOURCE_SYSTEM;
	/* out of memory only costs the next lookup */
	if ((nv = realloc(t->asked, (t->n_asked + 1) * sizeof(*nv))) != NULL) {
		t->asked = nv;
		if (X509_up_ref(x)) {
			nv[t->n_asked].x = x;
			nv[t->n_asked].sources = src;
			nv[t->n_asked].file = NULL;
			t->n_asked++;
		}
	}
	pthread_mutex_unlock(&t->asked_lock);
	return src;
}

/* See cert.h. */
unsigned smp_trust_source_of(const smp_trust *t, X509 *x, const char **file)
{
	unsigned src = 0;

	if (file != NULL)
		*file = NULL;
	if (t == NULL || x == NULL)
		return 0;
	for (size_t i = 0; i < t->n_recs; i++) {
		if (X509_cmp(t->recs[i].x, x) != 0)
			continue;
		src |= t->recs[i].sources;
		if (file != NULL)
			*file = t->recs[i].file;
		break;
	}
	if (t->ca_dir == NULL && t->system == NULL)
		return src;
	return src | stores_have((smp_trust *)t, x);
}

/* See cert.h. */
unsigned smp_trust_sources(const smp_trust *t)
{
	return t == NULL ? 0 : t->sources;
}

/* The sources opts choose: as given, or the default of before --trust existed. */
static int resolve_sources(unsigned *out, const smp_trust_options *opts, smp_error *err)
{
	int files = opts->ca_file != NULL || opts->ca_dir != NULL;

	*out = opts->sources;
	if (opts->sources == 0) {
		*out = files ? SMP_TRUST_FILE : opts->use_system_store ? SMP_TRUST_SYSTEM : 0;
		return 0;
	}
	if ((opts->sources & SMP_TRUST_FILE) && !files)
		return smp_error_set_hint(err, SMP_ERR_USAGE, SMP_HINT_TRUST_NO_FILE,
					  "the trust sources name file, but no file of trust "
					  "anchors is given");
	if (!(opts->sources & SMP_TRUST_FILE) && files)
		return smp_error_set_hint(err, SMP_ERR_USAGE, SMP_HINT_TRUST_UNUSED_FILE,
					  "trust anchors '%s' are given, but the trust sources "
					  "leave file out",
					  opts->ca_file != NULL ? opts->ca_file : opts->ca_dir);
	return 0;
}

static int load_crls(STACK_OF(X509_CRL) *dst, const char *path, smp_error *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	X509_CRL *crl = NULL;
	int r;

	if ((r = smp_read_file(&data, &len, path, SMP_MAX_INPUT, err)) != 0)
		return r;
	r = SMP_ERR_INTERNAL;
	if (memmem(data, len, "-----BEGIN X509 CRL-----", 24) != NULL) {
		if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
		while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
			if (sk_X509_CRL_push(dst, crl) <= 0) {
				r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
				goto out;
			}
			crl = NULL;
		}
	} else {
		const unsigned char *p = data;

		crl = d2i_X509_CRL(NULL, &p, (long)len);
		if (crl != NULL) {
			if (sk_X509_CRL_push(dst, crl) <= 0) {
				r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
				goto out;
			}
			crl = NULL;
		}
	}
	ERR_clear_error();
	if (sk_X509_CRL_num(dst) == 0) {
		r = smp_error_set(err, SMP_ERR_BADINPUT,
				  "cannot read '%s': no CRL in it (PEM or DER X.509 CRL expected)",
				  path);
		goto out;
	}
	r = 0;
out:
	X509_CRL_free(crl);
	BIO_free(bio);
	free(data);
	return r;
}

/* Loads anchors, intermediates and CRLs (see cert.h). *out is the caller's to free. */
int smp_trust_new(smp_trust **out, const smp_trust_options *opts, smp_error *err)
{
	smp_trust *t = NULL;
	struct stat st;
	int r = SMP_ERR_INTERNAL;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || opts == NULL)
		return smp_error_set(err, SMP_ERR_INTERNAL, "smp_trust_new: null argument");
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&t->asked_lock, NULL);
	if ((t->store = X509_STORE_new()) == NULL ||
	    (t->untrusted = sk_X509_new_null()) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((t->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		r = smp_error_openssl(err, SMP_ERR_INTERNAL, "cannot fetch SHA-256");
		goto out;
	}
	t->at = opts->at != 0 ? opts->at : time(NULL);
	t->warn_days = opts->warn_days < 0 ? 0 : opts->warn_days;
	t->crit_days = opts->crit_days < 0 ? 0 : opts->crit_days;
	if ((r = resolve_sources(&t->sources, opts, err)) != 0)
		goto out;
	if (opts->ca_file != NULL && (r = load_ca_file(t, opts->ca_file, err)) != 0)
		goto out;
	if (opts->ca_dir != NULL) {
		if (stat(opts->ca_dir, &st) != 0) {
			r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read '%s': %s", opts->ca_dir,
					  strerror(errno));
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			r = smp_error_set_hint(err, SMP_ERR_NOFILE, SMP_HINT_CA_DIR,
					  "cannot read '%s': not a directory of hashed certificates",
					  opts->ca_dir);
			goto out;
		}
		/* a second store of the directory alone tells which anchors came from it */
		if (!X509_STORE_load_path(t->store, opts->ca_dir) ||
		    (t->ca_dir = X509_STORE_new()) == NULL ||
		    !X509_STORE_load_path(t->ca_dir, opts->ca_dir)) {
			r = smp_error_openssl(err, SMP_ERR_BADINPUT, "cannot use '%s' as trust anchors",
					      opts->ca_dir);
			goto out;
		}
	}
	/* the same for the system store: a chain can then say which of its CAs it provided */
	if ((t->sources & SMP_TRUST_SYSTEM) &&
	    (!X509_STORE_set_default_paths(t->store) || (t->system = X509_STORE_new()) == NULL ||
	     !X509_STORE_set_default_paths(t->system))) {
		r = smp_error_openssl(err, SMP_ERR_INTERNAL, "cannot load the system trust store");
		goto out;
	}
	if (opts->untrusted_file != NULL &&
	    (r = load_untrusted(t, opts->untrusted_file, err)) != 0)
		goto out;
	if (opts->crl_file != NULL) {
		if ((t->crls = sk_X509_CRL_new_null()) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
		if ((r = load_crls(t->crls, opts->crl_file, err)) != 0)
			goto out;
	}
	*out = t;
	t = NULL;
	r = 0;
out:
	ERR_clear_error();
	smp_trust_free(t);
	return r;
}

/* The moment findings are judged at. */
time_t smp_trust_time(const smp_trust *t)
{
	return t == NULL ? 0 : t->at;
}

/* The `expiring` window in days. */
int smp_trust_warn_days(const smp_trust *t)
{
	return t == NULL ? 0 : t->warn_days;
}

int smp_trust_crit_days(const smp_trust *t)
{
	return t == NULL ? 0 : t->crit_days;
}

/* The trust anchors, borrowed. */
X509_STORE *smp_trust_store(const smp_trust *t)
{
	return t == NULL ? NULL : t->store;
}

/* Extra intermediates from untrusted_file, borrowed (never NULL for a trust context). */
STACK_OF(X509) *smp_trust_untrusted(const smp_trust *t)
{
	return t == NULL ? NULL : t->untrusted;
}

/* CRLs from crl_file, borrowed, or NULL when none was given. */
STACK_OF(X509_CRL) *smp_trust_crls(const smp_trust *t)
{
	return t == NULL ? NULL : t->crls;
}

/* SHA-256, fetched once, borrowed. */
const EVP_MD *smp_trust_sha256(const smp_trust *t)
{
	return t == NULL ? NULL : t->sha256;
}

/* Frees t (NULL is fine). */
void smp_trust_free(smp_trust *t)
{
	if (t == NULL)
		return;
	EVP_MD_free(t->sha256);
	X509_STORE_free(t->store);
	X509_STORE_free(t->system);
	X509_STORE_free(t->ca_dir);
	for (size_t i = 0; i < t->n_recs; i++) {
		X509_free(t->recs[i].x);
		free(t->recs[i].file);
	}
	free(t->recs);
	for (size_t i = 0; i < t->n_asked; i++)
		X509_free(t->asked[i].x);
	free(t->asked);
	pthread_mutex_destroy(&t->asked_lock);
	sk_X509_pop_free(t->untrusted, X509_free);
	sk_X509_CRL_pop_free(t->crls, X509_CRL_free);
	free(t);
}

/* ---- Time --------------------------------------------------------------------------------- */

/* n decimal digits at *p; advances *p. Returns -1 when they are not there. */
static int digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

static int days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* Parses RFC 3339 or YYYY-MM-DD (see cert.h). */
int smp_parse_time(time_t *out, const char *text, smp_error *err)
{
	const char *p = text;
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, s = 0, off = 0;
	time_t t;

	if (out != NULL)
		*out = 0;
	if (out == NULL || text == NULL)
		goto bad;
	memset(&tm, 0, sizeof(tm));
	if ((y = digits(&p, 4)) < 0 || *p++ != '-' || (mo = digits(&p, 2)) < 0 || *p++ != '-' ||
	    (d = digits(&p, 2)) < 0)
		goto bad;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		goto bad;
	if (*p != '\0') {
		if (*p != 'T' && *p != 't' && *p != ' ')
			goto bad;
		p++;
		if ((h = digits(&p, 2)) < 0 || *p++ != ':' || (mi = digits(&p, 2)) < 0 ||
		    *p++ != ':' || (s = digits(&p, 2)) < 0)
			goto bad;
		if (h > 23 || mi > 59 || s > 60)
			goto bad;
		if (*p == '.') {
			p++;
			if (*p < '0' || *p > '9')
				goto bad;
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om;

			if ((oh = digits(&p, 2)) < 0 || *p++ != ':' || (om = digits(&p, 2)) < 0 ||
			    oh > 23 || om > 59)
				goto bad;
			off = sign * (oh * 3600 + om * 60);
		} else {
			goto bad;
		}
		if (*p != '\0')
			goto bad;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	if ((t = timegm(&tm)) == (time_t)-1)
		goto bad;
	*out = t - off;
	return 0;
bad:
	return smp_error_set(err, SMP_ERR_USAGE,
			     "invalid time '%s': use RFC 3339 (2026-06-01T12:00:00Z) or YYYY-MM-DD",
			     text != NULL ? text : "");
}

/* Formats t as RFC 3339 UTC into buf. */
void smp_format_time(char *buf, size_t size, time_t t)
{
	struct tm tm;

	if (buf == NULL || size == 0)
		return;
	if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
}
