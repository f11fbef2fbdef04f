/*
 * Stand-in: the availability annotations, written for this fixture. Each expands to clang's
 * `availability` attribute for every platform named, as on Darwin; bindgen does not use them,
 * so they change nothing in the generated bindings:
 *
 *   API_AVAILABLE(macos(10.15))                    introduced in macOS 10.15
 *   API_DEPRECATED("message", macos(10.15, 12.0))  introduced in 10.15, deprecated in 12.0
 *   API_UNAVAILABLE(ios, tvos, watchos)            absent from those platforms
 *
 * Up to four platforms per annotation.
 */
#ifndef FIXTURE_OS_AVAILABILITY_H
#define FIXTURE_OS_AVAILABILITY_H

#ifndef __has_attribute
#define __has_attribute(x) 0
#endif

#if __has_attribute(availability)

/* `platform(version...)` pasted onto one of these prefixes gives the attribute's arguments. */
#define __FIXTURE_AV_INTRODUCED_macos(v) macos, introduced = v
#define __FIXTURE_AV_INTRODUCED_ios(v) ios, introduced = v
#define __FIXTURE_AV_INTRODUCED_tvos(v) tvos, introduced = v
#define __FIXTURE_AV_INTRODUCED_watchos(v) watchos, introduced = v
#define __FIXTURE_AV_DEPRECATED_macos(v, d) macos, introduced = v, deprecated = d
#define __FIXTURE_AV_DEPRECATED_ios(v, d) ios, introduced = v, deprecated = d
#define __FIXTURE_AV_DEPRECATED_tvos(v, d) tvos, introduced = v, deprecated = d
#define __FIXTURE_AV_DEPRECATED_watchos(v, d) watchos, introduced = v, deprecated = d

#define __FIXTURE_AV_ONE_INTRODUCED(unused, p) __attribute__((availability(__FIXTURE_AV_INTRODUCED_##p)))
#define __FIXTURE_AV_ONE_DEPRECATED(msg, p) __attribute__((availability(__FIXTURE_AV_DEPRECATED_##p, message = msg)))
#define __FIXTURE_AV_ONE_UNAVAILABLE(unused, p) __attribute__((availability(p, unavailable)))

/* m(x, p) for each platform p. */
#define __FIXTURE_AV_COUNT(_1, _2, _3, _4, n, ...) n
#define __FIXTURE_AV_CAT(a, b) __FIXTURE_AV_CAT_(a, b)
#define __FIXTURE_AV_CAT_(a, b) a##b
#define __FIXTURE_AV_EACH(m, x, ...) \
	__FIXTURE_AV_CAT(__FIXTURE_AV_EACH_, __FIXTURE_AV_COUNT(__VA_ARGS__, 4, 3, 2, 1, 0))(m, x, __VA_ARGS__)
#define __FIXTURE_AV_EACH_1(m, x, a) m(x, a)
#define __FIXTURE_AV_EACH_2(m, x, a, b) m(x, a) m(x, b)
#define __FIXTURE_AV_EACH_3(m, x, a, b, c) m(x, a) m(x, b) m(x, c)
#define __FIXTURE_AV_EACH_4(m, x, a, b, c, d) m(x, a) m(x, b) m(x, c) m(x, d)

#define API_AVAILABLE(...) __FIXTURE_AV_EACH(__FIXTURE_AV_ONE_INTRODUCED, , __VA_ARGS__)
#define API_DEPRECATED(msg, ...) __FIXTURE_AV_EACH(__FIXTURE_AV_ONE_DEPRECATED, msg, __VA_ARGS__)
#define API_DEPRECATED_WITH_REPLACEMENT(rep, ...) API_DEPRECATED("use " rep " instead", __VA_ARGS__)
#define API_UNAVAILABLE(...) __FIXTURE_AV_EACH(__FIXTURE_AV_ONE_UNAVAILABLE, , __VA_ARGS__)

#else

#define API_AVAILABLE(...)
#define API_DEPRECATED(...)
#define API_DEPRECATED_WITH_REPLACEMENT(...)
#define API_UNAVAILABLE(...)

#endif

#endif
