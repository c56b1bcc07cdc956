// Command sqlite creates a SQLite database with github.com/mattn/go-sqlite3
// (cgo), writes rows and reads them back.
package main

import (
	"database/sql"
	"fmt"
	"log"
	"os"
	"strings"

	_ "github.com/mattn/go-sqlite3"
)

func main() {
	db, err := sql.Open("sqlite3", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE TABLE boards (name TEXT PRIMARY KEY, goarch TEXT)",
		"INSERT INTO boards VALUES ('pi5', 'arm64'), ('pi-32bit', 'arm')",
	} {
		if _, err := db.Exec(q); err != nil {
			log.Fatal(err)
		}
	}
	rows, err := db.Query("SELECT name, goarch FROM boards ORDER BY goarch DESC")
	if err != nil {
		log.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var n, a string
		if err := rows.Scan(&n, &a); err != nil {
			log.Fatal(err)
		}
		got = append(got, n+"="+a)
	}
	if err := rows.Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("read back:", strings.Join(got, " "))
}
