/* Directory entries as the library holds them (dir.h): freeing and address matching. */
#include "smimepub/dir.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smimepub/cert.h"

static void free_strings(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void smp_bervals_free(struct berval *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].bv_val);
	free(v);
}

/*
 * Frees an entry allocated with malloc and everything it points to (every string and value
 * buffer is malloc'd too). NULL is allowed.
 */
void smp_entry_free(smp_entry *e)
{
	if (e == NULL)
		return;
	free(e->dn);
	free(e->cn);
	free_strings(e->mail, e->n_mail);
	free_strings(e->proxy, e->n_proxy);
	smp_bervals_free(e->certs, e->n_certs);
	free_strings(e->cert_attrs, e->n_certs);
	smp_bervals_free(e->smime, e->n_smime);
	free(e);
}

/* Frees v[0..n) with smp_entry_free, then v. */
void smp_entries_free(smp_entry **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		smp_entry_free(v[i]);
	free(v);
}

static char **dup_strings(char *const *v, size_t n)
{
	char **out = calloc(n + 1, sizeof(*out));

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if ((out[i] = strdup(v[i])) == NULL) {
			free_strings(out, i);
			return NULL;
		}
	}
	return out;
}

struct berval *smp_bervals_dup(const struct berval *v, size_t n)
{
	struct berval *out = calloc(n + 1, sizeof(*out));

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if ((out[i].bv_val = malloc(v[i].bv_len + 1)) == NULL) {
			smp_bervals_free(out, i);
			return NULL;
		}
		memcpy(out[i].bv_val, v[i].bv_val, v[i].bv_len);
		out[i].bv_val[v[i].bv_len] = '\0';
		out[i].bv_len = v[i].bv_len;
	}
	return out;
}

/* A deep copy of e in the layout dir.h describes. Returns 0 or SMP_ERR_NOMEM (*out NULL). */
int smp_entry_dup(smp_entry **out, const smp_entry *e)
{
	smp_entry *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return SMP_ERR_NOMEM;
	/* counted up front: a copy that failed is NULL, which smp_entry_free skips */
	c->n_mail = e->n_mail;
	c->n_proxy = e->n_proxy;
	c->n_certs = e->n_certs;
	c->n_smime = e->n_smime;
	if ((c->dn = strdup(e->dn)) == NULL || (e->cn != NULL && (c->cn = strdup(e->cn)) == NULL) ||
	    (c->mail = dup_strings(e->mail, e->n_mail)) == NULL ||
	    (c->proxy = dup_strings(e->proxy, e->n_proxy)) == NULL ||
	    (c->certs = smp_bervals_dup(e->certs, e->n_certs)) == NULL ||
	    (c->cert_attrs = dup_strings(e->cert_attrs, e->n_certs)) == NULL ||
	    (c->smime = smp_bervals_dup(e->smime, e->n_smime)) == NULL) {
		smp_entry_free(c);
		return SMP_ERR_NOMEM;
	}
	*out = c;
	return 0;
}

/*
 * Calls fn for each mail value (how 2), then each proxyAddresses value with the smtp: prefix
 * (any case; primary SMTP: or secondary smtp:, how 1) without it, each normalised with
 * smp_address_normalize; values that are not well-formed addresses are skipped.
 */
int smp_entry_each_address(const smp_entry *e, int (*fn)(const char *addr, int how, void *ctx),
			   void *ctx)
{
	char *norm = NULL;
	const char *v;
	int r = 0;

	for (size_t i = 0; i < e->n_mail + e->n_proxy && r == 0; i++) {
		int how = i < e->n_mail ? 2 : 1;

		v = how == 2 ? e->mail[i] : e->proxy[i - e->n_mail];
		if (v == NULL || (how == 1 && strncasecmp(v, "smtp:", 5) != 0))
			continue;
		if (how == 1)
			v += 5;
		if ((r = smp_address_normalize(&norm, v, strlen(v), NULL)) != 0) {
			if (r == SMP_ERR_NOMEM)
				return r;
			r = 0;
			continue;
		}
		r = fn(norm, how, ctx);
		free(norm);
		norm = NULL;
	}
	return r;
}

struct wanted {
	const char *addr;  /* normalised */
	int how;
};

static int is_wanted(const char *addr, int how, void *ctx)
{
	struct wanted *w = ctx;

	if (!smp_address_equal(addr, w->addr))
		return 0;
	w->how = how;
	return 1;
}

/*
 * 2 when one of the entry's mail values is addr, 1 when only an smtp: proxyAddresses value
 * is, 0 otherwise: the first of smp_entry_each_address's values that equals addr, both sides
 * normalised, so a value that is not a well-formed address never matches.
 */
int smp_entry_has_address(const smp_entry *e, const char *addr)
{
	struct wanted w = { NULL, 0 };
	char *norm = NULL;
	int r;

	if (e == NULL || addr == NULL)
		return 0;
	if ((r = smp_address_normalize(&norm, addr, strlen(addr), NULL)) != 0)
		return r == SMP_ERR_NOMEM ? r : 0;
	w.addr = norm;
	r = smp_entry_each_address(e, is_wanted, &w);
	free(norm);
	return r < 0 ? r : w.how;
}
