/*
 * smimepub: where a directory keeps partner CA certificates (SPEC §6, ca.h), and the reader
 * that walks them. The layout is the profile's data: Active Directory's containers hang
 * below the partition its root DSE names, OpenLDAP's below --ca-base.
 */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "smimepub/ca.h"

void smp_ca_containers_release(smp_ca_containers *c)
{
	if (c == NULL)
		return;
	free(c->roots);
	free(c->intermediates);
	c->roots = c->intermediates = NULL;
}

/* rdns (may be NULL) above parent, normalised by libldap; NULL when not a DN or no memory. */
static char *join_dn(const char *rdns, const char *parent)
{
	LDAPDN dn = NULL;
	char *joined = NULL, *norm = NULL, *out = NULL;

	if (rdns != NULL && rdns[0] != '\0') {
		if (asprintf(&joined, "%s,%s", rdns, parent) < 0)
			return NULL;
	} else if ((joined = strdup(parent)) == NULL) {
		return NULL;
	}
	if (ldap_str2dn(joined, &dn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && dn != NULL &&
	    ldap_dn2str(dn, &norm, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && norm != NULL)
		out = strdup(norm);
	ldap_memfree(norm);
	ldap_dnfree(dn);
	free(joined);
	return out;
}

int smp_ca_containers_for(smp_ca_containers *out, const smp_profile *p, const char *partition,
			  const char *base, const char *ca_base, smp_error *err)
{
	smp_ca_containers c = SMP_CA_CONTAINERS_INIT;
	const char *parent, *what;
	int r = SMP_ERR_NOMEM;

	memset(out, 0, sizeof(*out));
	if (p->ca_root_dse_attr != NULL) {
		if (partition == NULL || partition[0] == '\0')
			return smp_error_set(err, SMP_ERR_USAGE, "the directory does not name its "
					     "'%s'", p->ca_root_dse_attr);
		if ((c.roots = join_dn(p->ca_roots_rdns, partition)) == NULL ||
		    (c.intermediates = join_dn(p->ca_intermediates_rdns, partition)) == NULL) {
			smp_ca_containers_release(&c);
			return smp_error_set(err, SMP_ERR_USAGE, "the CA containers below '%s' "
					     "cannot be named: not a DN", partition);
		}
		*out = c;
		return 0;
	}
	if (ca_base != NULL) {
		parent = ca_base;
		what = "the CA base";
		c.roots = join_dn(NULL, ca_base);
	} else {
		if (base == NULL || base[0] == '\0')
			return smp_error_set(err, SMP_ERR_USAGE, "no CA base: name the container "
					     "for CA certificates or a search base");
		parent = base;
		what = "the search base";
		c.roots = join_dn(p->ca_default_base_rdn, base);
	}
	if (c.roots == NULL) {
		r = smp_error_set(err, SMP_ERR_USAGE, "%s is not a DN: '%s'", what, parent);
		goto out;
	}
	if ((c.intermediates = strdup(c.roots)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
	r = 0;
out:
	smp_ca_containers_release(&c);
	return r;
}

int smp_dir_ca_containers(smp_ca_containers *out, smp_dir *d, const char *ca_base,
			  smp_error *err)
{
	const smp_profile *p = smp_dir_profile(d);
	char *partition = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (p->ca_root_dse_attr != NULL) {
		if (d->ops->root_dse_value == NULL ||
		    (partition = d->ops->root_dse_value(d, p->ca_root_dse_attr)) == NULL)
			return smp_error_set(err, SMP_ERR_NOTFOUND, "the root DSE of '%s' names no "
					     "'%s': cannot find the CA containers",
					     d->uri != NULL ? d->uri : "", p->ca_root_dse_attr);
	}
	r = smp_ca_containers_for(out, p, partition, smp_dir_base(d), ca_base, err);
	free(partition);
	return r;
}

struct walk_ctx {
	const smp_ca_containers *c;
	const char *container;
	smp_ca_container_kind in;
	int (*fn)(const smp_ca_value *v, void *ctx);
	void *ctx;
};

/* "cACertificate;binary" is cACertificate: the type before any option, case-insensitively. */
static int type_is(const char *desc, const char *type)
{
	size_t n = strlen(type);

	return strncasecmp(desc, type, n) == 0 && (desc[n] == '\0' || desc[n] == ';');
}

static int one_value(const char *dn, const char *attr, size_t index, const struct berval *v,
		     void *ctx)
{
	struct walk_ctx *w = ctx;
	smp_ca_value cv;

	memset(&cv, 0, sizeof(cv));
	cv.cross = type_is(attr, "crossCertificatePair");
	if (!cv.cross && !type_is(attr, "cACertificate"))
		return 0;
	cv.dn = dn;
	cv.container = w->container;
	cv.in = w->in;
	cv.attr = attr;
	cv.der = v;
	cv.index = index;
	return w->fn(&cv, w->ctx);
}

int smp_dir_ca_walk(smp_dir *d, const smp_ca_containers *c,
		    int (*fn)(const smp_ca_value *v, void *ctx), void *ctx, smp_error *err)
{
	/* both forms: OpenLDAP answers cACertificate;binary, Active Directory cACertificate */
	char *attrs[] = { "cACertificate", "cACertificate;binary", "crossCertificatePair",
			  "crossCertificatePair;binary", NULL };
	struct walk_ctx w = { c, NULL, SMP_CA_IN_BOTH, fn, ctx };
	int same = strcasecmp(c->roots, c->intermediates) == 0, r;

	w.container = c->roots;
	w.in = same ? SMP_CA_IN_BOTH : SMP_CA_IN_ROOTS;
	r = dir_search_values(d, "read the CA certificates", c->roots, LDAP_SCOPE_ONELEVEL,
			      "(objectClass=*)", attrs, one_value, &w, err);
	if (r != 0 || same)
		return r;
	w.container = c->intermediates;
	w.in = SMP_CA_IN_INTERMEDIATES;
	return dir_search_values(d, "read the CA certificates", c->intermediates,
				 LDAP_SCOPE_ONELEVEL, "(objectClass=*)", attrs, one_value, &w, err);
}

int smp_ca_value_is_placeholder(const struct berval *v)
{
	return v->bv_len == 1 && v->bv_val[0] == '\0';
}

struct read_ctx {
	const char *type;
	struct berval *v;
	size_t n;
	int exists;
	int nomem;
};

static int read_value(const char *dn, const char *attr, size_t index, const struct berval *v,
		      void *ctx)
{
	struct read_ctx *rc = ctx;
	struct berval *grown;

	(void)dn;
	(void)index;
	rc->exists = 1;
	if (!type_is(attr, rc->type))
		return 0;
	if ((grown = realloc(rc->v, (rc->n + 2) * sizeof(*grown))) == NULL ||
	    (grown[rc->n].bv_val = malloc(v->bv_len + 1)) == NULL) {
		if (grown != NULL)
			rc->v = grown;
		rc->nomem = 1;
		return SMP_ERR_NOMEM;
	}
	rc->v = grown;
	memcpy(grown[rc->n].bv_val, v->bv_val, v->bv_len);
	grown[rc->n].bv_val[v->bv_len] = '\0';
	grown[rc->n].bv_len = v->bv_len;
	rc->n++;
	memset(&grown[rc->n], 0, sizeof(grown[rc->n]));
	return 0;
}

int smp_dir_ca_read(smp_dir *d, const char *dn, const char *attr, int *exists,
		    struct berval **values, size_t *n, smp_error *err)
{
	char type[64], binary[80];
	char *attrs[] = { type, binary, "objectClass", NULL };
	struct read_ctx rc;
	int r;

	memset(&rc, 0, sizeof(rc));
	*exists = 0;
	*values = NULL;
	*n = 0;
	snprintf(type, sizeof(type), "%.*s", (int)strcspn(attr, ";"), attr);
	snprintf(binary, sizeof(binary), "%s;binary", type);
	rc.type = type;
	r = dir_search_values(d, "read a CA entry", dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs,
			      read_value, &rc, err);
	if (r != 0) {
		smp_bervals_free(rc.v, rc.n);
		return rc.nomem ? smp_error_set(err, SMP_ERR_NOMEM, "out of memory") : r;
	}
	*exists = rc.exists;
	*values = rc.v;
	*n = rc.n;
	return 0;
}

struct values_ctx {
	char **names;
	struct berval *v;
	size_t n;
	int exists;
};

static int one_of_entry(const char *dn, const char *attr, size_t index, const struct berval *v,
			void *ctx)
{
	struct values_ctx *vc = ctx;
	char **nn;
	struct berval *nv;

	(void)dn;
	(void)index;
	vc->exists = 1;
	if ((nn = realloc(vc->names, (vc->n + 1) * sizeof(*nn))) == NULL)
		return SMP_ERR_NOMEM;
	vc->names = nn;
	if ((nv = realloc(vc->v, (vc->n + 2) * sizeof(*nv))) == NULL)
		return SMP_ERR_NOMEM;
	vc->v = nv;
	if ((nn[vc->n] = strdup(attr)) == NULL)
		return SMP_ERR_NOMEM;
	if ((nv[vc->n].bv_val = malloc(v->bv_len + 1)) == NULL) {
		free(nn[vc->n]);
		return SMP_ERR_NOMEM;
	}
	memcpy(nv[vc->n].bv_val, v->bv_val, v->bv_len);
	nv[vc->n].bv_val[v->bv_len] = '\0';
	nv[vc->n].bv_len = v->bv_len;
	vc->n++;
	memset(&nv[vc->n], 0, sizeof(nv[vc->n]));
	return 0;
}

int smp_dir_read_values(smp_dir *d, const char *dn, char **attrs, int *exists, char ***names,
			struct berval **values, size_t *n, smp_error *err)
{
	struct values_ctx vc;
	int r;

	memset(&vc, 0, sizeof(vc));
	*exists = 0;
	*names = NULL;
	*values = NULL;
	*n = 0;
	r = dir_search_values(d, "read an entry", dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs,
			      one_of_entry, &vc, err);
	if (r != 0) {
		smp_dir_values_free(vc.names, vc.v, vc.n);
		return r == SMP_ERR_NOMEM ? smp_error_set(err, r, "out of memory") : r;
	}
	*exists = vc.exists;
	*names = vc.names;
	*values = vc.v;
	*n = vc.n;
	return 0;
}

void smp_dir_values_free(char **names, struct berval *values, size_t n)
{
	for (size_t i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
	smp_bervals_free(values, n);
}
