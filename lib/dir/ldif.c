/*
 * smimepub: the LDIF-export backend of smp_dir (SPEC §2, §4): an export read as a read-only
 * directory, so planning and auditing go through the same interface as against a server.
 *
 * An export is indexed, not held: each entry's offset in the file and what the searches need
 * to know of it; the entry itself is read again (smp_ldif_read_at) when a search or read
 * returns it. Memory grows with the keys (addresses, DNs), not with the certificates. Opened
 * for a walk only (audit), nothing is indexed and the walk streams the file.
 */
#include "backend.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "smimepub/cert.h"
#include "smimepub/ldif_in.h"

/* How an index key came from its entry (smp_entry_each_address's how). */
enum { HOW_PROXY = 1, HOW_MAIL = 2 };

/* One key of an index: a normalised address or DN and the entry (file order) holding it. */
struct key {
	char *s;
	size_t entry;
	int how;
};

/* Keys sorted case-insensitively, then by entry: equal keys list their entries in file order. */
struct index {
	struct key *v;
	size_t n, cap;
};

enum { LDIF_IN_BASE = 1, LDIF_HAS_ADDRESS = 2, LDIF_HAS_CERT = 4 };

struct ldif_export {
	FILE *fp;                  /* the export (indexed standard input: a temporary copy) */
	const char *name;          /* for messages: the path, "standard input" */
	int walk_only;             /* smp_ldif_options.walk_only: no index */
	int walked;                /* walk_only: a walk has read fp (rewind for the next) */
	int auto_profile;          /* schema AUTO: a walk_only walk may still settle it */
	uint64_t *offset;          /* every entry's place in fp, in file order */
	unsigned char *flags;      /* LDIF_* of each entry */
	size_t n, cap;
	struct index addrs;        /* smp_entry_each_address of every entry */
	struct index dns;          /* each entry's DN key (smp_dir_rdn_keys joined) */
	char **base;               /* explicit base: its RDN keys; else the common suffix so far */
	size_t n_base;
	char **first;              /* the first entry's RDNs as written, for the base's display */
	size_t n_first;
	int explicit_base;
	int suffix_started;
	int has_proxy;             /* some entry holds proxyAddresses */
	smp_error *err;            /* while loading */
};

static struct ldif_export *X(const smp_dir *d)
{
	return d->be;
}

static void index_release(struct index *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->v[i].s);
	free(x->v);
}

static void export_free(struct ldif_export *x)
{
	if (x == NULL)
		return;
	if (x->fp != NULL && x->fp != stdin)
		fclose(x->fp);
	free(x->offset);
	free(x->flags);
	index_release(&x->addrs);
	index_release(&x->dns);
	smp_dir_rdns_free(x->base, x->n_base);
	smp_dir_rdns_free(x->first, x->n_first);
	free(x);
}

static void lx_close(smp_dir *d)
{
	export_free(X(d));
	d->be = NULL;
}

static int index_add(struct index *x, const char *s, size_t entry, int how)
{
	if (x->n == x->cap) {
		size_t ncap = x->cap ? x->cap * 2 : 64;
		struct key *nv = realloc(x->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return SMP_ERR_NOMEM;
		x->v = nv;
		x->cap = ncap;
	}
	if ((x->v[x->n].s = strdup(s)) == NULL)
		return SMP_ERR_NOMEM;
	x->v[x->n].how = how;
	x->v[x->n++].entry = entry;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct key *ka = a, *kb = b;
	int c = strcasecmp(ka->s, kb->s);

	if (c != 0)
		return c;
	return ka->entry < kb->entry ? -1 : ka->entry > kb->entry;
}

static void index_sort(struct index *x)
{
	if (x->n > 1)
		qsort(x->v, x->n, sizeof(*x->v), key_cmp);
}

/* The first position whose key is not below s (x->n when none). */
static size_t index_lower(const struct index *x, const char *s)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcasecmp(x->v[mid].s, s) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* How many trailing RDNs a and b share (compared case-insensitively). */
static size_t common_suffix(char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t k = 0;

	while (k < na && k < nb && strcasecmp(a[na - 1 - k], b[nb - 1 - k]) == 0)
		k++;
	return k;
}

/*
 * Whether the profile compares addresses held the way how says: a server searches only the
 * profile's match_attrs (proxyAddresses with its prefix), so the export does the same.
 */
static int profile_matches(const smp_profile *p, int how)
{
	const char *attr = how == HOW_MAIL ? "mail" : "proxyAddresses";

	if (how == HOW_PROXY && p->proxy_prefix == NULL)
		return 0;
	for (size_t i = 0; p->match_attrs != NULL && p->match_attrs[i] != NULL; i++)
		if (strcasecmp(p->match_attrs[i], attr) == 0)
			return 1;
	return 0;
}

struct address_sink {
	struct index *x;
	size_t entry;
};

static int index_address(const char *addr, int how, void *ctx)
{
	struct address_sink *s = ctx;

	return index_add(s->x, addr, s->entry, how);
}

/* smp_ldif_walk_stream's callback: indexes e (its offset, normalised DN and addresses). */
static int ldif_keep(const smp_entry *e, uint64_t offset, void *ctx)
{
	struct ldif_export *x = ctx;
	struct address_sink sink = { &x->addrs, x->n };
	char **rdns = NULL, *ndn = NULL;
	size_t n = 0, k;
	int r = SMP_ERR_NOMEM;

	if (smp_dir_rdn_keys(&rdns, &n, e->dn) != 0)
		return smp_error_set(x->err, SMP_ERR_BADINPUT, "'%s': entry 'dn: %s': not a valid DN",
				     x->name, e->dn);
	if (x->n == x->cap) {
		size_t ncap = x->cap ? x->cap * 2 : 64;
		uint64_t *no = realloc(x->offset, ncap * sizeof(*no));
		unsigned char *nf;

		if (no == NULL)
			goto out;
		x->offset = no;
		if ((nf = realloc(x->flags, ncap)) == NULL)
			goto out;
		x->flags = nf;
		x->cap = ncap;
	}
	x->offset[x->n] = offset;
	x->flags[x->n] = (e->n_mail > 0 || e->n_proxy > 0 ? LDIF_HAS_ADDRESS : 0) |
			 (e->n_certs > 0 || e->n_smime > 0 ? LDIF_HAS_CERT : 0);
	x->n++;
	if ((ndn = smp_dir_rdns_join(rdns, n)) == NULL || index_add(&x->dns, ndn, x->n - 1, 0) != 0 ||
	    smp_entry_each_address(e, index_address, &sink) != 0)
		goto out;
	x->has_proxy |= e->n_proxy > 0;
	if (x->explicit_base) {
		if (common_suffix(rdns, n, x->base, x->n_base) == x->n_base)
			x->flags[x->n - 1] |= LDIF_IN_BASE;
	} else if (!x->suffix_started) {
		if (smp_dir_rdns(&x->first, &x->n_first, e->dn) != 0)
			goto out;
		x->base = rdns;
		x->n_base = n;
		rdns = NULL;
		x->suffix_started = 1;
	} else {
		k = common_suffix(rdns, n, x->base, x->n_base);
		/* keep the last k RDNs of the suffix so far */
		for (size_t i = 0; i < x->n_base - k; i++)
			ldap_memfree(x->base[i]);
		memmove(x->base, x->base + (x->n_base - k), k * sizeof(*x->base));
		x->n_base = k;
	}
	r = 0;
out:
	free(ndn);
	smp_dir_rdns_free(rdns, n);
	if (r != 0)
		smp_error_set(x->err, r, "out of memory reading the LDIF export");
	return r;
}

/* The entry at x->offset[i], read again from the export: 0, or an error in err. */
static int ldif_entry(const smp_dir *d, size_t i, smp_entry **out, smp_error *err)
{
	return smp_ldif_read_at(X(d)->fp, d->uri, X(d)->offset[i], out, err);
}

/*
 * The export: path opened, or standard input ("-"): as it is for a walk only, else copied to
 * a temporary file so its entries can be read again. NULL with the reason in err.
 */
static FILE *ldif_open(const char *path, int walk_only, smp_error *err)
{
	char buf[65536];
	size_t got;
	FILE *fp;

	if (strcmp(path, "-") != 0) {
		if ((fp = fopen(path, "rb")) == NULL)
			smp_error_set(err, SMP_ERR_NOFILE, "cannot open '%s': %s", path,
				      strerror(errno));
		return fp;
	}
	if (walk_only)
		return stdin;
	if ((fp = tmpfile()) == NULL) {
		smp_error_set(err, SMP_ERR_NOFILE, "cannot keep standard input in a temporary "
			      "file: %s", strerror(errno));
		return NULL;
	}
	while ((got = fread(buf, 1, sizeof(buf), stdin)) > 0)
		if (fwrite(buf, 1, got, fp) != got)
			break;
	if (ferror(stdin) || ferror(fp) || fflush(fp) != 0 || fseeko(fp, 0, SEEK_SET) != 0) {
		smp_error_set(err, SMP_ERR_NOFILE, "cannot keep standard input in a temporary "
			      "file: %s", strerror(errno ? errno : EIO));
		fclose(fp);
		return NULL;
	}
	return fp;
}

/*
 * The base of an export without -b: the common suffix of its DNs, or its parent when that is
 * the DN of an entry with an address (a lone recipient is no container). Every entry is in it.
 */
static int ldif_settle_base(smp_dir *d, struct ldif_export *x, smp_error *err)
{
	char *suffix = smp_dir_rdns_join(x->base, x->n_base);
	size_t drop = 0, keep;

	if (suffix == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (size_t i = index_lower(&x->dns, suffix);
	     x->n_base > 0 && i < x->dns.n && strcasecmp(x->dns.v[i].s, suffix) == 0; i++)
		if (x->flags[x->dns.v[i].entry] & LDIF_HAS_ADDRESS)
			drop = 1;
	free(suffix);
	/* shown as the first entry spells it: every entry's last RDNs are the same DN */
	keep = x->n_base - drop;
	if (keep > x->n_first)
		keep = x->n_first;
	if ((d->base = smp_dir_rdns_join(keep > 0 ? x->first + (x->n_first - keep) : NULL,
					 keep)) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < x->n; i++)
		x->flags[i] |= LDIF_IN_BASE;
	return 0;
}

/* The profile of schema AUTO for an export holding ad_attr (NULL: none of the markers). */
static const smp_profile *auto_profile(const char *ad_attr)
{
	const smp_profile *p = smp_profile_for_export_attr(ad_attr);
	size_t i = 0;

	if (p != NULL)
		return p;
	while (smp_profiles[i + 1] != NULL)
		i++;
	return smp_profiles[i];  /* the default: the last one */
}

static const struct smp_dir_ops ldif_ops;

int smp_dir_open_ldif_ex(smp_dir **out, const char *path, const smp_ldif_options *opts,
			 smp_error *err)
{
	int r = SMP_ERR_NOMEM;
	smp_dir *d = NULL;
	struct ldif_export *x = NULL;
	const char *ad_attr = NULL;
	const smp_profile *given = opts->profile != NULL ? opts->profile
							 : smp_profile_for_schema(opts->schema);

	*out = NULL;
	if ((d = smp_dir_new(&ldif_ops)) == NULL || (x = calloc(1, sizeof(*x))) == NULL ||
	    (d->uri = strdup(path)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	d->be = x;
	x->err = err;
	x->walk_only = opts->walk_only;
	x->name = opts->walk_only && strcmp(path, "-") == 0 ? "standard input" : d->uri;
	if (opts->base != NULL) {
		if (smp_dir_rdn_keys(&x->base, &x->n_base, opts->base) != 0) {
			r = smp_error_set(err, SMP_ERR_USAGE, "not a DN: '%s'", opts->base);
			goto out;
		}
		x->explicit_base = 1;
		if ((d->base = strdup(opts->base)) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if ((x->fp = ldif_open(path, x->walk_only, err)) == NULL) {
		r = err->code;
		goto out;
	}
	if (x->walk_only) {
		/* nothing read yet: the walk settles what the file says */
		d->profile = given != NULL ? given : auto_profile(NULL);
		x->auto_profile = given == NULL;
	} else {
		if ((r = smp_ldif_walk_stream(x->fp, path, ldif_keep, x, &ad_attr, err)) != 0)
			goto out;
		index_sort(&x->addrs);
		index_sort(&x->dns);
		if (!x->explicit_base && (r = ldif_settle_base(d, x, err)) != 0)
			goto out;
		d->profile = given != NULL ? given : auto_profile(ad_attr);
		if (given == NULL && ad_attr == NULL && x->has_proxy &&
		    asprintf(&d->warning, "'%s' holds proxyAddresses but no attribute only Active "
			     "Directory has (objectGUID, objectCategory ...): planning for OpenLDAP "
			     "(userCertificate;binary)", path) < 0)
			d->warning = NULL;
		else if (d->warning != NULL)
			d->warning_hint = SMP_HINT_SCHEMA_AD;
	}
	x->err = NULL;
	d->last_rc = LDAP_SUCCESS;
	*out = d;
	d = NULL;
	r = 0;
out:
	smp_dir_close(d);
	return r;
}

int smp_dir_open_ldif(smp_dir **out, const char *path, smp_schema schema, const char *base,
		      smp_error *err)
{
	smp_ldif_options o = SMP_LDIF_OPTIONS_INIT;

	o.schema = schema;
	o.base = base;
	return smp_dir_open_ldif_ex(out, path, &o, err);
}

/* Searches of an export opened for a walk only: there is no index to answer them. */
static int walk_only_refusal(const smp_dir *d, const char *what, smp_error *err)
{
	return smp_error_set(err, SMP_ERR_USAGE, "cannot %s: the LDIF export '%s' was opened "
			     "for a walk only", what, d->uri);
}

static int lx_find_by_address(smp_dir *d, const char *addr, smp_entry ***out, size_t *n,
			      smp_error *err)
{
	const struct ldif_export *x = X(d);
	smp_entry **v = NULL;
	size_t count = 0, i, last = (size_t)-1;
	char *norm = NULL;
	int r = SMP_ERR_NOMEM;

	if (x->walk_only)
		return walk_only_refusal(d, "search for an address", err);
	if (smp_address_normalize(&norm, addr, strlen(addr), NULL) != 0) {
		r = 0;  /* not an address: nothing holds it */
		goto out;
	}
	for (i = index_lower(&x->addrs, norm);
	     i < x->addrs.n && strcasecmp(x->addrs.v[i].s, norm) == 0; i++) {
		size_t entry = x->addrs.v[i].entry;
		smp_entry **slot;

		if (entry == last || !(x->flags[entry] & LDIF_IN_BASE) ||
		    !profile_matches(d->profile, x->addrs.v[i].how))
			continue;  /* same entry through mail and proxyAddresses */
		last = entry;
		if ((slot = smp_dir_entries_slot(&v, count)) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
		if ((r = ldif_entry(d, entry, slot, err)) != 0)
			goto out;
		count++;
	}
	*out = v;
	*n = count;
	v = NULL;
	count = 0;
	r = 0;
out:
	smp_entries_free(v, count);
	free(norm);
	d->last_rc = r == 0 ? LDAP_SUCCESS : LDAP_OTHER;
	return r;
}

static int lx_read(smp_dir *d, const char *dn, smp_entry **out, smp_error *err)
{
	const struct ldif_export *x = X(d);
	char **rdns = NULL, *ndn = NULL;
	size_t n = 0, i;
	int r;

	if (x->walk_only)
		return walk_only_refusal(d, "read an entry", err);
	if (smp_dir_rdn_keys(&rdns, &n, dn) != 0) {
		d->last_rc = LDAP_INVALID_DN_SYNTAX;
		return smp_error_set(err, SMP_ERR_NOTFOUND, "no entry '%s'", dn);
	}
	ndn = smp_dir_rdns_join(rdns, n);
	smp_dir_rdns_free(rdns, n);
	if (ndn == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	i = index_lower(&x->dns, ndn);
	if (i < x->dns.n && strcasecmp(x->dns.v[i].s, ndn) == 0) {
		r = ldif_entry(d, x->dns.v[i].entry, out, err);
		d->last_rc = r == 0 ? LDAP_SUCCESS : LDAP_OTHER;
	} else {
		d->last_rc = LDAP_NO_SUCH_OBJECT;
		r = smp_error_set(err, SMP_ERR_NOTFOUND, "no entry '%s'", dn);
	}
	free(ndn);
	return r;
}

/* A walk that streams the export (walk_only). */
struct stream_walk {
	smp_dir *d;
	int (*fn)(const smp_entry *e, void *ctx);
	void *ctx;
	const char *ad_attr;       /* set by the reader at the first marker attribute */
	smp_error *err;
};

static int stream_one(const smp_entry *e, uint64_t offset, void *ctx)
{
	struct stream_walk *w = ctx;
	struct ldif_export *x = X(w->d);
	char **rdns = NULL;
	size_t n = 0;
	int in_base;

	(void)offset;
	if (x->auto_profile && w->ad_attr != NULL) {
		w->d->profile = auto_profile(w->ad_attr);
		x->auto_profile = 0;
	}
	if (e->n_certs == 0 && e->n_smime == 0)
		return 0;
	if (x->explicit_base) {
		if (smp_dir_rdn_keys(&rdns, &n, e->dn) != 0)
			return smp_error_set(w->err, SMP_ERR_BADINPUT,
					     "'%s': entry 'dn: %s': not a valid DN", x->name, e->dn);
		in_base = common_suffix(rdns, n, x->base, x->n_base) == x->n_base;
		smp_dir_rdns_free(rdns, n);
		if (!in_base)
			return 0;
	}
	return w->fn(e, w->ctx);
}

static int lx_walk(smp_dir *d, int (*fn)(const smp_entry *e, void *ctx),
		   void (*on_referral)(const char *url, void *ctx), void *ctx, smp_error *err)
{
	struct ldif_export *x = X(d);
	smp_entry *e = NULL;
	int r = 0;

	(void)on_referral;  /* an export has none */
	if (x->walk_only) {
		struct stream_walk w = { d, fn, ctx, NULL, err };

		if (x->walked && fseeko(x->fp, 0, SEEK_SET) != 0)
			return smp_error_set(err, SMP_ERR_USAGE, "cannot walk '%s' again: it can be "
					     "read only once", x->name);
		x->walked = 1;
		r = smp_ldif_walk_stream(x->fp, x->name, stream_one, &w, &w.ad_attr, err);
		if (x->auto_profile && w.ad_attr != NULL)
			d->profile = auto_profile(w.ad_attr);
		d->last_rc = r == 0 ? LDAP_SUCCESS : LDAP_OTHER;
		return r;
	}
	for (size_t i = 0; i < x->n && r == 0; i++) {
		if ((x->flags[i] & (LDIF_IN_BASE | LDIF_HAS_CERT)) !=
		    (LDIF_IN_BASE | LDIF_HAS_CERT))
			continue;
		if ((r = ldif_entry(d, i, &e, err)) == 0)
			r = fn(e, ctx);
		smp_entry_free(e);
		e = NULL;
	}
	return r;
}

/* Everything that writes, waits for a server or reconnects is absent: dir.c refuses it. */
static const struct smp_dir_ops ldif_ops = {
	.name = "the LDIF export",
	.refusal = "is read-only",
	.find_by_address = lx_find_by_address,
	.read = lx_read,
	.walk = lx_walk,
	.close = lx_close,
};
