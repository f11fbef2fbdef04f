/*
 * Stand-in: the enumeration macros vmnet.h declares its enums with.
 *
 * OBJC_ENUM(type, name) and OBJC_OPTIONS(type, name) are used as `typedef OBJC_ENUM(uint32_t,
 * name) { ... };`. Where the compiler has fixed-type enums (Objective-C, C++11) that is an enum
 * named `name` with underlying type `type`. Compiled as C, where `objc_fixed_enum` is false, it
 * is a typedef of `type` called `name` followed by an anonymous enum: the constants belong to
 * no named type, which is what bindgen sees when it parses vmnet.h as C.
 */
#ifndef FIXTURE_OBJC_OBJC_API_H
#define FIXTURE_OBJC_OBJC_API_H

#ifndef __has_feature
#define __has_feature(x) 0
#endif

#if __has_feature(objc_fixed_enum) || (defined(__cplusplus) && __cplusplus >= 201103L)
#define OBJC_ENUM(_type, _name) enum _name : _type _name; enum _name : _type
#define OBJC_OPTIONS(_type, _name) enum _name : _type _name; enum _name : _type
#else
#define OBJC_ENUM(_type, _name) _type _name; enum
#define OBJC_OPTIONS(_type, _name) _type _name; enum
#endif

#endif
