/*
 * Trust from the directory (SPEC §6, --trust directory): the CA certificates a directory
 * distributes become anchors and intermediates, as domain members take them. Active
 * Directory says what each one is by its container -- Windows puts everything in
 * Certification Authorities into the Trusted Root store and everything in AIA into the
 * Intermediate store, whatever the certificate looks like -- so the container decides
 * there. OpenLDAP has one container for both; there a self-signed certificate is a root
 * and anything else an intermediate. Where the containers are and how they are read is
 * lib/dir/ca.c's, once.
 */
#include "smimepub/cert.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "smimepub/ca.h"
#include "smimepub/dir.h"

struct load_ctx {
	smp_trust *t;
	smp_trust_dir_report *rep;
	smp_error *err;
};

/* Whether x is self-issued and its signature verifies with its own key. */
static int self_signed(X509 *x)
{
	int r = X509_self_signed(x, 1) == 1;

	ERR_clear_error();
	return r;
}

static int one_ca(const smp_ca_value *v, void *ctx)
{
	struct load_ctx *lc = ctx;
	const unsigned char *p = (const unsigned char *)v->der->bv_val;
	X509 *x;
	int anchor, r;

	x = d2i_X509(NULL, &p, (long)v->der->bv_len);
	/* a value that is not a CA certificate grants nothing: members ignore it too */
	if (x == NULL || p != (const unsigned char *)v->der->bv_val + v->der->bv_len ||
	    X509_check_ca(x) == 0) {
		ERR_clear_error();
		X509_free(x);
		lc->rep->skipped++;
		return 0;
	}
	switch (v->in) {
	case SMP_CA_IN_ROOTS:
		anchor = !v->cross;
		break;
	case SMP_CA_IN_INTERMEDIATES:
		anchor = 0;
		break;
	default:
		anchor = !v->cross && self_signed(x);
		break;
	}
	r = smp_trust_add_ca(lc->t, x, SMP_SOURCE_DIRECTORY, anchor, NULL, lc->err);
	X509_free(x);
	if (r != 0)
		return r;
	if (anchor)
		lc->rep->anchors++;
	else
		lc->rep->intermediates++;
	return 0;
}

/* See cert.h. */
void smp_trust_dir_report_release(smp_trust_dir_report *rep)
{
	if (rep == NULL)
		return;
	free(rep->roots_dn);
	free(rep->intermediates_dn);
	memset(rep, 0, sizeof(*rep));
}

/* See cert.h. */
int smp_trust_load_directory(smp_trust *t, struct smp_dir *d, const char *ca_base,
			     smp_trust_dir_report *rep, smp_error *err)
{
	smp_ca_containers c = SMP_CA_CONTAINERS_INIT;
	smp_trust_dir_report scratch;
	struct load_ctx lc;
	int r;

	if (rep == NULL)
		rep = &scratch;
	memset(rep, 0, sizeof(*rep));
	if (t == NULL || d == NULL)
		return smp_error_set(err, SMP_ERR_INTERNAL, "smp_trust_load_directory: null argument");
	if ((r = smp_dir_ca_containers(&c, d, ca_base, err)) != 0)
		return r;
	lc.t = t;
	lc.rep = rep;
	lc.err = err;
	r = smp_dir_ca_walk(d, &c, one_ca, &lc, err);
	if (r == 0 && rep != &scratch) {
		rep->roots_dn = c.roots;
		rep->intermediates_dn = c.intermediates;
		memset(&c, 0, sizeof(c));
	}
	smp_ca_containers_release(&c);
	return r;
}
