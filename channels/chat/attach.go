package chat

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"unicode"

	"github.com/google/uuid"

	"github.com/switchboard-cc/switchboard/crm"
	"github.com/switchboard-cc/switchboard/org"
)

// ErrAttachmentType: the bytes are not one of the allowed types, whatever
// the file's name or declared type says.
var ErrAttachmentType = errors.New("only PNG, JPEG, GIF, WebP images and PDF files can be sent")

// SniffAttachment returns the type of data by its content, or
// ErrAttachmentType. A file named .png that holds HTML is refused. The
// rules are crm's (crm.SniffChatAttachment), so that an agent's upload in
// the console is held to the same.
func SniffAttachment(data []byte) (string, error) {
	ct, err := crm.SniffChatAttachment(data)
	if err != nil {
		return "", ErrAttachmentType
	}
	return ct, nil
}

// cleanName keeps a file name printable and short; it is only ever shown
// as text and put in a quoted Content-Disposition.
func cleanName(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) || r == '"' || r == '/' {
			return -1
		}
		return r
	}, name)
	if r := []rune(name); len(r) > 100 {
		name = string(r[:100])
	}
	if name == "." || name == "" {
		name = "file"
	}
	return name
}

// serveUpload answers POST /chat/attachments?site=KEY: a multipart form
// with the visitor's token ("token") and one file ("file"). The chat must
// have started (the token names it). The answer is the attachment's id,
// to be sent in a message frame's attachment_id. The request needs no
// preflight (a simple form post), and only an allowed Origin may make it.
func (c *Connector) serveUpload(w http.ResponseWriter, r *http.Request) {
	site, ok := c.siteFor(w, r, true)
	if !ok {
		return
	}
	if !c.allow(r.Context(), "chat:upload:"+clientIP(r), uploads) {
		http.Error(w, "too many uploads; slow down", http.StatusTooManyRequests)
		return
	}
	cs := c.settingsFor(r.Context(), site)
	if !cs.Attachments {
		http.Error(w, "this site takes no attachments", http.StatusForbidden)
		return
	}
	// The form around the file is small; the file itself is held to the
	// site's limit below.
	r.Body = http.MaxBytesReader(w, r.Body, int64(cs.MaxAttachmentBytes)+16<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		http.Error(w, "send a multipart form with token and file", http.StatusBadRequest)
		return
	}
	var tok visitorToken
	var haveToken bool
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		} else if err != nil {
			c.uploadError(w, err, cs)
			return
		}
		switch part.FormName() {
		case "token":
			b, _ := io.ReadAll(io.LimitReader(part, 1024))
			t, err := parseToken(c.secret, string(b), c.now())
			if err != nil || t.Site != site.ID || t.Contact == uuid.Nil {
				http.Error(w, "start the chat first, with a valid visitor token", http.StatusUnauthorized)
				return
			}
			tok, haveToken = t, true
		case "file":
			if !haveToken {
				http.Error(w, "send the token before the file", http.StatusBadRequest)
				return
			}
			data, err := io.ReadAll(io.LimitReader(part, int64(cs.MaxAttachmentBytes)+1))
			if err != nil {
				c.uploadError(w, err, cs)
				return
			}
			if len(data) > cs.MaxAttachmentBytes {
				c.uploadError(w, &http.MaxBytesError{Limit: int64(cs.MaxAttachmentBytes)}, cs)
				return
			}
			c.storeUpload(w, r, site, tok, cleanName(part.FileName()), data)
			return
		}
	}
	http.Error(w, "no file in the form", http.StatusBadRequest)
}

func (c *Connector) uploadError(w http.ResponseWriter, err error, cs org.ChatSettings) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, fmt.Sprintf("the file is larger than this site's limit of %d bytes", cs.MaxAttachmentBytes), http.StatusRequestEntityTooLarge)
		return
	}
	http.Error(w, "the upload was not a valid form", http.StatusBadRequest)
}

func (c *Connector) storeUpload(w http.ResponseWriter, r *http.Request, site org.Site, tok visitorToken, name string, data []byte) {
	if len(data) == 0 {
		http.Error(w, "the file is empty", http.StatusBadRequest)
		return
	}
	ct, err := SniffAttachment(data)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnsupportedMediaType)
		return
	}
	info, err := c.chats.SaveAttachment(r.Context(), site.TenantID, tok.Contact, name, ct, data)
	switch {
	case errors.Is(err, crm.ErrClosed), errors.Is(err, crm.ErrNotFound):
		http.Error(w, "this chat has ended", http.StatusConflict)
		return
	case err != nil:
		c.log.Error("chat: save attachment", "contact_id", tok.Contact, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"id":%q,"content_type":%q,"size":%d}`, info.ID, info.ContentType, info.Size)
}

// serveDownload answers GET /chat/attachments/{id}?site=KEY&token=…: an
// attachment of the chat the visitor token names, to that visitor only;
// anyone else's attachment is not found.
func (c *Connector) serveDownload(w http.ResponseWriter, r *http.Request, id string) {
	site, ok := c.siteFor(w, r, false)
	if !ok {
		return
	}
	attID, err := uuid.Parse(id)
	tok, terr := parseToken(c.secret, r.URL.Query().Get("token"), c.now())
	if err != nil || terr != nil || tok.Site != site.ID || tok.Contact == uuid.Nil {
		http.NotFound(w, r)
		return
	}
	a, err := c.chats.AttachmentOf(r.Context(), site.TenantID, tok.Contact, attID)
	if errors.Is(err, crm.ErrNotFound) {
		http.NotFound(w, r)
		return
	} else if err != nil {
		c.log.Error("chat: read attachment", "contact_id", tok.Contact, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	// The widget shows images from our origin on the dealer's page.
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	WriteAttachment(w, a)
}

// WriteAttachment sends a stored attachment safely: its checked type,
// never sniffed, never HTML, never a document that could run script (PDF
// is downloaded, not shown), sandboxed if opened directly.
func WriteAttachment(w http.ResponseWriter, a crm.Attachment) {
	h := w.Header()
	h.Set("Content-Type", a.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("Content-Length", strconv.Itoa(len(a.Data)))
	disposition := "inline"
	if !strings.HasPrefix(a.ContentType, "image/") {
		disposition = "attachment"
	}
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": a.Name}))
	w.Write(a.Data)
}
