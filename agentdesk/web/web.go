// Package web embeds the pages and scripts of the agent console, wallboard
// and chat widget; it imports nothing of ours.
package web

import (
	"embed"
	"html/template"
	"io/fs"
)

//go:embed templates static
var files embed.FS

// Static is the static/ subtree, served at /static/.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err)
	}
	return sub
}

// Templates parses the pages.
func Templates() (*template.Template, error) {
	return template.ParseFS(files, "templates/*.html")
}

// PageUser is the logged-in user a page shows.
type PageUser struct{ ID, Name, Role string }

// PageData is what every page template gets.
type PageData struct {
	Title    string
	User     *PageUser
	CSRF     string
	Error    string
	Next     string
	SiteKey  string
	SiteName string
	Email    string
	// NotAgent: the console's user takes no contacts (a supervisor or admin
	// without an agent profile): no console socket, search and records only.
	NotAgent bool
}
