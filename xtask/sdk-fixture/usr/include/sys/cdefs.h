/* Stand-in: the few Darwin cdefs macros the fixture uses. */
#ifndef FIXTURE_SYS_CDEFS_H
#define FIXTURE_SYS_CDEFS_H

#if defined(__cplusplus)
#define __BEGIN_DECLS extern "C" {
#define __END_DECLS }
#else
#define __BEGIN_DECLS
#define __END_DECLS
#endif

#ifndef __has_feature
#define __has_feature(x) 0
#endif

/* Clang spells nullability `_Nullable` (and accepts `__nullable`); other compilers get nothing. */
#if !__has_feature(nullability)
#define __nullable
#define __nonnull
#define _Nullable
#define _Nonnull
#endif

#endif
