/*
 * smimepub (internal): the subschema model (schema.h). Parsing is libldap's
 * (ldap_str2attributetype / ldap_str2objectclass / ldap_str2contentrule, liberal, since
 * Active Directory writes "MUST (cn )" and names for OIDs); this file only follows the
 * references between the parsed definitions.
 */
#include "schema.h"

#include <stdlib.h>
#include <strings.h>

#include <ldap.h>
#include <ldap_schema.h>

#include "smimepub/error.h"

/* Superclass chains deeper than this are taken as a loop in a broken schema. */
#define MAX_CLASS_DEPTH 32

struct dir_schema {
	LDAPAttributeType **at;
	size_t n_at;
	LDAPObjectClass **oc;
	size_t n_oc;
	LDAPContentRule **cr;
	size_t n_cr;
};

static size_t count(struct berval *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

/* Whether name is one of names[] or oid (case-insensitively). */
static int is_named(const char *name, char **names, const char *oid)
{
	if (oid != NULL && strcasecmp(oid, name) == 0)
		return 1;
	for (size_t i = 0; names != NULL && names[i] != NULL; i++)
		if (strcasecmp(names[i], name) == 0)
			return 1;
	return 0;
}

void dir_schema_free(dir_schema *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_at; i++)
		ldap_attributetype_free(s->at[i]);
	for (size_t i = 0; i < s->n_oc; i++)
		ldap_objectclass_free(s->oc[i]);
	for (size_t i = 0; i < s->n_cr; i++)
		ldap_contentrule_free(s->cr[i]);
	free(s->at);
	free(s->oc);
	free(s->cr);
	free(s);
}

int dir_schema_parse(dir_schema **out, struct berval *const *attribute_types,
		     struct berval *const *object_classes, struct berval *const *content_rules)
{
	dir_schema *s;
	size_t nat = count(attribute_types), noc = count(object_classes),
	       ncr = count(content_rules);
	const char *errp;
	int code;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (nat > 0 && (s->at = calloc(nat, sizeof(*s->at))) == NULL) ||
	    (noc > 0 && (s->oc = calloc(noc, sizeof(*s->oc))) == NULL) ||
	    (ncr > 0 && (s->cr = calloc(ncr, sizeof(*s->cr))) == NULL)) {
		dir_schema_free(s);
		return SMP_ERR_NOMEM;
	}
	/* berval values from ldap_get_values_len are NUL-terminated */
	for (size_t i = 0; i < nat; i++)
		if ((s->at[s->n_at] = ldap_str2attributetype(attribute_types[i]->bv_val, &code,
							     &errp, LDAP_SCHEMA_ALLOW_ALL)) != NULL)
			s->n_at++;
	for (size_t i = 0; i < noc; i++)
		if ((s->oc[s->n_oc] = ldap_str2objectclass(object_classes[i]->bv_val, &code, &errp,
							   LDAP_SCHEMA_ALLOW_ALL)) != NULL)
			s->n_oc++;
	for (size_t i = 0; i < ncr; i++)
		if ((s->cr[s->n_cr] = ldap_str2contentrule(content_rules[i]->bv_val, &code, &errp,
							   LDAP_SCHEMA_ALLOW_ALL)) != NULL)
			s->n_cr++;
	*out = s;
	return 0;
}

static const LDAPAttributeType *find_at(const dir_schema *s, const char *name)
{
	for (size_t i = 0; i < s->n_at; i++)
		if (is_named(name, s->at[i]->at_names, s->at[i]->at_oid))
			return s->at[i];
	return NULL;
}

static const LDAPObjectClass *find_oc(const dir_schema *s, const char *name)
{
	for (size_t i = 0; i < s->n_oc; i++)
		if (is_named(name, s->oc[i]->oc_names, s->oc[i]->oc_oid))
			return s->oc[i];
	return NULL;
}

int dir_schema_has_attribute(const dir_schema *s, const char *attr)
{
	return s != NULL && find_at(s, attr) != NULL;
}

/* Whether the list (names or OIDs of attributes) names the attribute at. */
static int lists(char **list, const LDAPAttributeType *at)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		if (is_named(list[i], at->at_names, at->at_oid))
			return 1;
	return 0;
}

/* Whether the class oc or one of its superclasses has at in MUST or MAY. */
static int class_lists(const dir_schema *s, const LDAPObjectClass *oc,
		       const LDAPAttributeType *at, int depth)
{
	if (oc == NULL || depth > MAX_CLASS_DEPTH)
		return 0;
	if (lists(oc->oc_at_oids_must, at) || lists(oc->oc_at_oids_may, at))
		return 1;
	for (size_t i = 0; oc->oc_sup_oids != NULL && oc->oc_sup_oids[i] != NULL; i++)
		if (class_lists(s, find_oc(s, oc->oc_sup_oids[i]), at, depth + 1))
			return 1;
	return 0;
}

int dir_schema_class_may_hold(const dir_schema *s, const char *cls, const char *attr)
{
	const LDAPObjectClass *oc;
	const LDAPAttributeType *at;

	if (s == NULL || (oc = find_oc(s, cls)) == NULL || (at = find_at(s, attr)) == NULL)
		return 0;
	/* a content rule is named by its structural class's OID (RFC 4512 §4.1.6); what it
	   precludes (NOT) no entry of the class may hold */
	for (size_t i = 0; i < s->n_cr; i++)
		if (is_named(s->cr[i]->cr_oid, oc->oc_names, oc->oc_oid) &&
		    lists(s->cr[i]->cr_at_oids_not, at))
			return 0;
	if (class_lists(s, oc, at, 0))
		return 1;
	for (size_t i = 0; i < s->n_cr; i++) {
		const LDAPContentRule *cr = s->cr[i];

		if (!is_named(cr->cr_oid, oc->oc_names, oc->oc_oid))
			continue;
		if (lists(cr->cr_at_oids_must, at) || lists(cr->cr_at_oids_may, at))
			return 1;
		for (size_t k = 0; cr->cr_oc_oids_aux != NULL && cr->cr_oc_oids_aux[k] != NULL; k++)
			if (class_lists(s, find_oc(s, cr->cr_oc_oids_aux[k]), at, 1))
				return 1;
	}
	return 0;
}
