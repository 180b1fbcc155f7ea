/*
 * smimepub (internal): what a directory's subschema entry (RFC 4512 §4.2) says about
 * attributes and classes, as far as creating a contact needs it.
 *
 * Why a model and not a string search: whether a contact may hold an attribute is not in the
 * attribute's definition but in the classes. Active Directory (and Samba) publish each class
 * with only its own MUST/MAY, its superclasses by SUP, and the auxiliary classes every object
 * of a structural class has (systemAuxiliaryClass: mailRecipient for contact, where
 * Exchange's schema preparation adds its recipient attributes) as that class's DIT content
 * rule (dITContentRules, AUX). OpenLDAP publishes the same forms without content rules.
 * Values are parsed by libldap's schema parser, never by hand.
 */
#ifndef SMIMEPUB_DIR_SCHEMA_H
#define SMIMEPUB_DIR_SCHEMA_H

#include <lber.h>

typedef struct dir_schema dir_schema;

/*
 * The model of a subschema entry's attributeTypes, objectClasses and dITContentRules values
 * (each a NULL-terminated array, or NULL when the entry has none). A value libldap cannot
 * parse is left out. Returns 0 and *out (free with dir_schema_free), or SMP_ERR_NOMEM.
 */
int dir_schema_parse(dir_schema **out, struct berval *const *attribute_types,
		     struct berval *const *object_classes, struct berval *const *content_rules);

void dir_schema_free(dir_schema *s);

/* 1 when the schema defines attr (by any of its names or its OID, case-insensitively), or 0. */
int dir_schema_has_attribute(const dir_schema *s, const char *attr);

/*
 * 1 when an entry of the structural class cls may hold attr: attr is in the MUST or MAY of
 * cls or of a superclass, of cls's DIT content rule, or of an auxiliary class that rule
 * names (and its superclasses), and the rule does not preclude it (NOT); 0 otherwise, also
 * when cls or attr is not in the schema.
 */
int dir_schema_class_may_hold(const dir_schema *s, const char *cls, const char *attr);

#endif
