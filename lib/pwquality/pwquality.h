/* SPDX-License-Identifier: ISC */
/*
 * pwquality: whether a new password is too easy to guess, rated by
 * zxcvbn (libzxcvbn, the only includer of <zxcvbn.h>): the keystore
 * password, recovery passphrases and escrow account passwords are
 * checked here when they are set, never when they are entered to
 * unlock.  The public entry point is coffer_password_check()
 * (include/coffer/coffer.h); this header only names the threshold.
 *
 * Not responsible for reading passwords or for what they protect.
 */
#ifndef PWQUALITY_H_
#define PWQUALITY_H_

/*
 * PWQUALITY_MIN_BITS: zxcvbn's estimate of log2(guesses) a password
 * must reach (docs/SECURITY.md, "Password strength", says why 45).
 */
#define PWQUALITY_MIN_BITS	45

#endif /* !PWQUALITY_H_ */
