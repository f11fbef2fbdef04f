/* Stand-in: the XPC object functions vmnet needs, as they appear when compiling C. */
#ifndef FIXTURE_XPC_XPC_H
#define FIXTURE_XPC_XPC_H
#include <stdbool.h>
#include <sys/types.h>
#include <uuid/uuid.h>
#include <os/availability.h>

/*
 * The function returns an object the caller owns (and releases with xpc_release). In C, XPC
 * objects are plain pointers; the fixture expands the annotation to nothing (bindgen would
 * ignore an attribute anyway).
 */
#ifndef XPC_RETURNS_RETAINED
#define XPC_RETURNS_RETAINED
#endif

typedef void *xpc_object_t;
typedef const struct _xpc_type_s *xpc_type_t;

extern const struct _xpc_type_s _xpc_type_array;
extern const struct _xpc_type_s _xpc_type_bool;
extern const struct _xpc_type_s _xpc_type_dictionary;
extern const struct _xpc_type_s _xpc_type_string;
extern const struct _xpc_type_s _xpc_type_uint64;
extern const struct _xpc_type_s _xpc_type_uuid;

xpc_object_t xpc_retain(xpc_object_t object);
void xpc_release(xpc_object_t object);
xpc_type_t xpc_get_type(xpc_object_t object);

xpc_object_t xpc_array_create(const xpc_object_t *objects, size_t count);
size_t xpc_array_get_count(xpc_object_t xarray);
xpc_object_t xpc_array_get_value(xpc_object_t xarray, size_t index);
void xpc_array_append_value(xpc_object_t xarray, xpc_object_t value);
const char *xpc_array_get_string(xpc_object_t xarray, size_t index);

xpc_object_t xpc_dictionary_create(const char *const *keys, const xpc_object_t *values, size_t count);
xpc_object_t xpc_dictionary_get_value(xpc_object_t xdict, const char *key);
size_t xpc_dictionary_get_count(xpc_object_t xdict);
void xpc_dictionary_set_uint64(xpc_object_t xdict, const char *key, uint64_t value);
void xpc_dictionary_set_bool(xpc_object_t xdict, const char *key, bool value);
void xpc_dictionary_set_string(xpc_object_t xdict, const char *key, const char *string);
void xpc_dictionary_set_uuid(xpc_object_t xdict, const char *key, const uuid_t uuid);
uint64_t xpc_dictionary_get_uint64(xpc_object_t xdict, const char *key);
bool xpc_dictionary_get_bool(xpc_object_t xdict, const char *key);
const char *xpc_dictionary_get_string(xpc_object_t xdict, const char *key);
const uint8_t *xpc_dictionary_get_uuid(xpc_object_t xdict, const char *key);

bool xpc_bool_get_value(xpc_object_t xbool);
uint64_t xpc_uint64_get_value(xpc_object_t xuint);
const char *xpc_string_get_string_ptr(xpc_object_t xstring);
const uint8_t *xpc_uuid_get_bytes(xpc_object_t xuuid);
#endif
