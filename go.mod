module github.com/sidedesk/sidedesk

go 1.26
