/* Stand-in: the few Darwin cdefs macros the fixture uses. */
#ifndef FIXTURE_SYS_CDEFS_H
#define FIXTURE_SYS_CDEFS_H
#define __BEGIN_DECLS
#define __END_DECLS
#endif
