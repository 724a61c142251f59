// Package email is the e-mail connector: it parses mail (MIME, charsets,
// sanitised HTML, folded quotes, auto-replies and bounces), records it
// through crm with the mailbox's IMAP checkpoint in the same transaction,
// and announces new and reopened threads to routing through channels. It may
// import channels, crm and org.
package email
