// Package twilio is the phone channel's Twilio connector in control mode:
// the voice webhooks Twilio calls (incoming call, menu choice, waiting
// music, status callbacks), each verified by its X-Twilio-Signature and
// answered with TwiML the Hotline decides, and the REST calls that bridge a
// waiting caller to the agent who accepted or put them back in line.
//
// It imports the phone package's types only; cmd mounts the Handler and
// gives it the connector look-up and the Hotline.
package twilio
