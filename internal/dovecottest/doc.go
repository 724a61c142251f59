// Package dovecottest starts a throwaway Dovecot IMAP server on loopback for
// end-to-end tests of the e-mail connector: its configuration, mail and
// sockets live in the test's temporary directory, it runs as root or as a
// normal user, and it stops when the test ends. It imports none of the
// domain packages.
//
// Without /usr/sbin/dovecot a test is skipped, except under CI (CI set),
// where it fails: the CI image installs dovecot-imapd (.ci/run).
package dovecottest
