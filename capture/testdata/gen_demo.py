#!/usr/bin/env python3
"""Writes the demo corpus demo/mail/NN-name.eml: ~30 customer mails to
"Acme Cloud" support (support@acme.example), late November 2026, in
delivery order. Run from this folder: python3 gen_demo.py"""
import base64, os, struct, zlib, quopri

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "demo", "mail")
os.makedirs(OUT, exist_ok=True)
SUP = "Acme Support <support@acme.example>"
n = [0]
def w(name, text):
    n[0] += 1
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    open(os.path.join(OUT, "%02d-%s.eml" % (n[0], name)), "wb").write(data)

def b64(b):
    s = base64.b64encode(b).decode()
    return "\n".join(s[i:i+76] for i in range(0, len(s), 76))
def ti(guid, children=0):
    # Thread-Index: 22-byte header block (6 bytes FILETIME + 16 bytes GUID) + 5 bytes per reply.
    head = bytes.fromhex("01DB3A7F1C2E") + bytes.fromhex(guid)
    return base64.b64encode(head + b"\x00\x00\x3a\x4c\x10" * children).decode()
def png():
    raw = b"".join(b"\x00" + b"\x1f\x6f\xeb" * 8 for _ in range(8))
    c = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return b"\x89PNG\r\n\x1a\n" + c(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)) + c(b"IDAT", zlib.compress(raw)) + c(b"IEND", b"")

def plain(name, frm, subj, date, mid, body, extra="", ct="text/plain; charset=utf-8", cte="8bit"):
    w(name, f"""From: {frm}
To: {SUP}
Subject: {subj}
Date: {date}
Message-ID: <{mid}>
{extra}MIME-Version: 1.0
Content-Type: {ct}
Content-Transfer-Encoding: {cte}

{body}
""")

def gmail(name, frm, subj, date, mid, text, html, irt=None, refs=None):
    hdr = ""
    if refs: hdr += "References: " + " ".join("<%s>" % r for r in refs) + "\n"
    if irt: hdr += f"In-Reply-To: <{irt}>\n"
    bnd = "000000000000" + mid[:16].encode().hex()[:16]
    w(name, f"""MIME-Version: 1.0
{hdr}From: {frm}
Date: {date}
Message-ID: <{mid}>
Subject: {subj}
To: {SUP}
Content-Type: multipart/alternative; boundary="{bnd}"

--{bnd}
Content-Type: text/plain; charset="UTF-8"

{text}

--{bnd}
Content-Type: text/html; charset="UTF-8"

{html}

--{bnd}--
""")

def outlook(name, frm, subj, topic, date, mid, text, guid, children, irt=None, refs=None, cc=""):
    hdr = ""
    if refs: hdr += "References: " + " ".join("<%s>" % r for r in refs) + "\n"
    if irt: hdr += f"In-Reply-To: <{irt}>\n"
    if cc: hdr += f"CC: {cc}\n"
    bnd = "_000_" + mid.split("@")[0]
    html = "".join("<p class=MsoNormal>%s<o:p></o:p></p>" % (l or "&nbsp;") for l in text.split("\n"))
    w(name, f"""From: {frm}
To: {SUP}
{hdr}Subject: {subj}
Thread-Topic: {topic}
Thread-Index: {ti(guid, children)}
Date: {date}
Message-ID: <{mid}>
Accept-Language: en-US
Content-Language: en-US
X-MS-Has-Attach:
Content-Type: multipart/alternative;
\tboundary="{bnd}"
MIME-Version: 1.0

--{bnd}
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

{quopri.encodestring(text.encode()).decode()}

--{bnd}
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

{quopri.encodestring(('<html><head><style>p.MsoNormal{margin:0}</style></head><body><div class=WordSection1>' + html + '</div></body></html>').encode()).decode()}

--{bnd}--
""")

# --- Thread A: Globex outage (Outlook), urgent ---
GA = "9F3C2A1B4D5E6F708192A3B4C5D6E7F8"
outlook("globex-production-down", '"Schmidt, Anna" <anna.schmidt@globex.example>',
        "URGENT: production is down - API returns 503", "URGENT: production is down - API returns 503",
        "Mon, 16 Nov 2026 07:42:10 +0100", "AM0PR07MB0001A@AM0PR07MB0001.eurprd07.prod.outlook.com",
        "Hi Acme team,\n\nour production environment is down since 07:30 CET. Every call to\nhttps://api.acme.example/v2/orders returns 503 Service Unavailable.\n\nThis blocks all our warehouses. Please call me on +49 30 1234567.\n\nAnna Schmidt\nHead of IT, Globex", GA, 0,
        cc='"Bauer, Jonas" <jonas.bauer@globex.example>')
plain("initech-billing-question", "Bill Lumbergh <bill.lumbergh@initech.example>", "Question about our November invoice",
      "Mon, 16 Nov 2026 09:15:00 -0500", "5f2a9c1e-invoice@initech.example",
      "Hello,\n\ninvoice INV-2026-1143 lists 45 seats, but we downgraded to 30 seats\non 1 November. Could you send a corrected invoice?\n\nThanks,\nBill", extra="User-Agent: Mozilla Thunderbird\n")
outlook("globex-outage-followup", '"Schmidt, Anna" <anna.schmidt@globex.example>',
        "RE: URGENT: production is down - API returns 503", "URGENT: production is down - API returns 503",
        "Mon, 16 Nov 2026 08:05:33 +0100", "AM0PR07MB0002B@AM0PR07MB0002.eurprd07.prod.outlook.com",
        "Any update? Still 503 on every request. Our status page shows a\nred banner for all customers now.\n\nAnna", GA, 1,
        irt="AM0PR07MB0001A@AM0PR07MB0001.eurprd07.prod.outlook.com",
        refs=["AM0PR07MB0001A@AM0PR07MB0001.eurprd07.prod.outlook.com"])

# --- Thread B: Gmail customer, password reset, 3 messages ---
gmail("gmail-password-reset", "Maria Rossi <maria.rossi.84@example.com>", "Can't reset my password",
      "Tue, 17 Nov 2026 10:02:44 +0100", "CAB7xq0-reset-1@mail.gmail.com",
      "Hi, the password reset email never arrives. I checked spam too.\nAccount: maria.rossi.84@example.com",
      '<div dir="ltr">Hi, the password reset email never arrives. I checked spam too.<br>Account: maria.rossi.84@example.com</div>')
plain("hooli-sso-question", "Gavin Belson <gavin@hooli.example>", "SAML SSO with Okta?",
      "Tue, 17 Nov 2026 11:20:00 -0800", "sso-q-1@hooli.example",
      "Do you support SAML SSO with Okta on the Business plan? We have 250 users.\n\nGavin",
      extra="X-Mailer: Apple Mail (2.3774.600.62)\n", ct="text/plain; charset=us-ascii", cte="7bit")
gmail("gmail-password-reset-reply", "Maria Rossi <maria.rossi.84@example.com>", "Re: Can't reset my password",
      "Tue, 17 Nov 2026 14:31:09 +0100", "CAB7xq0-reset-2@mail.gmail.com",
      "Thanks, it worked after you whitelisted my address!\n\nOn Tue, Nov 17, 2026 at 1:10 PM Acme Support <support@acme.example> wrote:\n> We re-sent the reset link.",
      '<div dir="ltr">Thanks, it worked after you whitelisted my address!</div><div class="gmail_quote">On Tue, Nov 17, 2026 at 1:10 PM Acme Support wrote:<blockquote class="gmail_quote">We re-sent the reset link.</blockquote></div>',
      irt="sidedesk-reply-reset@acme.example", refs=["CAB7xq0-reset-1@mail.gmail.com", "sidedesk-reply-reset@acme.example"])

# --- Thread C: Umbrella with attachment + inline image (Apple Mail) ---
PNG = png()
PDF = b"%PDF-1.4\n% Acme demo\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
w("umbrella-export-bug-attachments", f"""From: Alice Abernathy <alice@umbrella.example>
Content-Type: multipart/mixed;
	boundary="Apple-Mail=_3C5D7E9F-1A2B-4C3D-8E9F-0A1B2C3D4E5F"
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))
Subject: CSV export cuts off after 10,000 rows
Date: Wed, 18 Nov 2026 09:12:31 +0100
To: {SUP}
Message-Id: <C1D2E3F4-export-bug@umbrella.example>
X-Mailer: Apple Mail (2.3774.600.62)


--Apple-Mail=_3C5D7E9F-1A2B-4C3D-8E9F-0A1B2C3D4E5F
Content-Type: multipart/related;
	type="text/html";
	boundary="Apple-Mail=_REL-7A8B9C"

--Apple-Mail=_REL-7A8B9C
Content-Transfer-Encoding: 7bit
Content-Type: text/html;
	charset=us-ascii

<html><body><p>Hello,</p><p>the CSV export stops at exactly 10,000 rows. Screenshot of the export dialog:</p><p><img src="cid:B5C6D7E8-screenshot@umbrella.example" alt="export dialog"></p><p>The full log is attached.</p><p>Alice</p></body></html>
--Apple-Mail=_REL-7A8B9C
Content-Transfer-Encoding: base64
Content-Disposition: inline;
	filename=screenshot.png
Content-Type: image/png;
	name="screenshot.png"
Content-Id: <B5C6D7E8-screenshot@umbrella.example>

{b64(PNG)}
--Apple-Mail=_REL-7A8B9C--

--Apple-Mail=_3C5D7E9F-1A2B-4C3D-8E9F-0A1B2C3D4E5F
Content-Disposition: attachment;
	filename=export-log.txt
Content-Type: text/plain;
	name="export-log.txt"
Content-Transfer-Encoding: 7bit

2026-11-18T08:55:01Z export started rows=48213
2026-11-18T08:55:09Z export truncated at row 10000
--Apple-Mail=_3C5D7E9F-1A2B-4C3D-8E9F-0A1B2C3D4E5F
Content-Disposition: attachment;
	filename=export-settings.pdf
Content-Type: application/pdf;
	name="export-settings.pdf"
Content-Transfer-Encoding: base64

{b64(PDF)}
--Apple-Mail=_3C5D7E9F-1A2B-4C3D-8E9F-0A1B2C3D4E5F--
""")
plain("freemail-feature-request", "Tom Baker <tom.baker@example.com>", "Feature request: dark mode",
      "Wed, 18 Nov 2026 19:45:12 +0000", "dark-mode-1@example.com",
      "Love the product! Any plans for a dark mode in the dashboard? My eyes would thank you.\n\nTom")
outlook("globex-outage-resolved", '"Bauer, Jonas" <jonas.bauer@globex.example>',
        "RE: URGENT: production is down - API returns 503", "URGENT: production is down - API returns 503",
        "Wed, 18 Nov 2026 08:30:00 +0100", "AM0PR07MB0003C@AM0PR07MB0003.eurprd07.prod.outlook.com",
        "Confirmed: everything is green again on our side since yesterday\nevening. Thanks for the quick fix. Could you send the incident\nreport when it is ready?\n\nJonas", GA, 3,
        irt="sidedesk-reply-globex-2@acme.example",
        refs=["AM0PR07MB0001A@AM0PR07MB0001.eurprd07.prod.outlook.com", "sidedesk-reply-globex-2@acme.example"])

# --- Apple Mail reply that rewrote References ---
plain("hooli-sso-followup", "Gavin Belson <gavin@hooli.example>", "Re: SAML SSO with Okta?",
      "Thu, 19 Nov 2026 08:03:19 -0800", "sso-q-2@hooli.example",
      "Great, please enable the trial. Our IdP metadata URL is\nhttps://hooli.okta.example/app/acme/sso/saml/metadata\n\n> On 18 Nov 2026, at 17:02, Acme Support <support@acme.example> wrote:\n> \n> Yes, SAML SSO with Okta is supported on Business.",
      extra="In-Reply-To: <sidedesk-reply-sso@acme.example>\nReferences: <sso-q-1@hooli.example> <sidedesk-reply-sso@acme.example>\nX-Mailer: Apple Mail (2.3774.600.62)\n",
      ct="text/plain; charset=utf-8", cte="8bit")

# --- Bounce of an earlier reply (Postfix style) ---
w("bounce-undeliverable", """Return-Path: <>
Date: Thu, 19 Nov 2026 10:00:04 +0000 (UTC)
From: MAILER-DAEMON@mail.acme.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: support@acme.example
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="8C1D2E3F4A.1763546404/mail.acme.example"
Message-Id: <20261119100004.8C1D2E3F4A@mail.acme.example>

This is a MIME-encapsulated message.

--8C1D2E3F4A.1763546404/mail.acme.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.acme.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<t.baker@example.com>: host mx.example.com[192.0.2.25] said: 550 5.1.1
    <t.baker@example.com>: Recipient address rejected: User unknown

--8C1D2E3F4A.1763546404/mail.acme.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.acme.example
Arrival-Date: Thu, 19 Nov 2026 10:00:00 +0000 (UTC)

Final-Recipient: rfc822; t.baker@example.com
Action: failed
Status: 5.1.1

--8C1D2E3F4A.1763546404/mail.acme.example
Content-Description: Undelivered Message
Content-Type: message/rfc822

Message-ID: <sidedesk-reply-darkmode@acme.example>
Date: Thu, 19 Nov 2026 09:59:58 +0000
From: Acme Support <support@acme.example>
To: t.baker@example.com
Subject: Re: Feature request: dark mode
In-Reply-To: <dark-mode-1@example.com>
Content-Type: text/plain; charset=utf-8

Hi Tom, dark mode is on our roadmap for Q1.

--8C1D2E3F4A.1763546404/mail.acme.example--
""")
# --- Out of office ---
plain("out-of-office", "Bill Lumbergh <bill.lumbergh@initech.example>", "Automatic reply: Question about our November invoice",
      "Thu, 19 Nov 2026 12:00:02 -0500", "oof-lumbergh-1119@initech.example",
      "I am out of the office until Monday, 23 November. For urgent billing matters\nplease contact Milton Waddams (milton@initech.example).",
      extra="Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All\nIn-Reply-To: <sidedesk-reply-invoice@acme.example>\n")
# --- Mailing list ---
plain("mailing-list-newsletter", "CloudOps Weekly <newsletter@cloudops-weekly.example>", "[CloudOps Weekly] Issue 212: Kubernetes cost tricks",
      "Thu, 19 Nov 2026 15:00:00 +0000", "issue-212@lists.cloudops-weekly.example",
      "This week: 7 ways to cut your Kubernetes bill, and a look at ARM nodes.\n\nUnsubscribe: https://cloudops-weekly.example/unsub",
      extra="List-Id: CloudOps Weekly <weekly.lists.cloudops-weekly.example>\nList-Unsubscribe: <mailto:unsubscribe@lists.cloudops-weekly.example>, <https://cloudops-weekly.example/unsub>\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\nPrecedence: list\n")
# --- non-UTF-8: German customer in iso-8859-1 QP ---
body = "Guten Tag,\n\nunsere Rechnung für Oktober enthält die Umsatzsteuer doppelt.\nKönnten Sie das bitte prüfen?\n\nMit freundlichen Grüßen\nJürgen Müller\nMüller & Söhne GmbH"
w("nonutf8-german-invoice", (f"""From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <j.mueller@mueller-soehne.example>
To: {SUP}
Subject: =?ISO-8859-1?Q?Rechnung_f=FCr_Oktober_=96_Umsatzsteuer_doppelt?=
Date: Fri, 20 Nov 2026 08:47:00 +0100
Message-ID: <20261120084700.4711@mueller-soehne.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: quoted-printable
X-Mailer: Microsoft Outlook 16.0

""" + quopri.encodestring(body.encode("latin-1")).decode() + "\n").encode())
# --- non-UTF-8: Japanese ISO-2022-JP ---
jbody = "アクメ御中\n\nAPIキーの再発行をお願いします。\n\n山田"
w("nonutf8-japanese-apikey", (f"""From: =?ISO-2022-JP?B?{base64.b64encode("山田太郎".encode("iso2022_jp")).decode()}?= <yamada@kaisha.example>
To: {SUP}
Subject: =?ISO-2022-JP?B?{base64.b64encode("APIキーの再発行".encode("iso2022_jp")).decode()}?=
Date: Fri, 20 Nov 2026 10:30:00 +0900
Message-ID: <apikey-20261120@kaisha.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-2022-JP
Content-Transfer-Encoding: 7bit

""").encode() + jbody.encode("iso2022_jp") + b"\n")

# --- Thread D: Initech API rate limits, Outlook without In-Reply-To ---
GD = "11223344556677889900AABBCCDDEEFF"
outlook("initech-rate-limit", "Peter Gibbons <peter.gibbons@initech.example>", "API rate limit hit during nightly sync",
        "API rate limit hit during nightly sync", "Fri, 20 Nov 2026 06:15:00 -0500", "BN8PR11MB0001X@BN8PR11MB0001.namprd11.prod.outlook.com",
        "Hi,\n\nour nightly inventory sync hits HTTP 429 after about 6,000 requests.\nCan the limit be raised for initech.example?\n\nPeter", GD, 0)
outlook("initech-rate-limit-reply-threadindex", "Peter Gibbons <peter.gibbons@initech.example>", "RE: API rate limit hit during nightly sync",
        "API rate limit hit during nightly sync", "Fri, 20 Nov 2026 13:40:00 -0500", "BN8PR11MB0002Y@BN8PR11MB0002.namprd11.prod.outlook.com",
        "Forgot to mention: we run the sync from 02:00 to 04:00 Eastern.\n\nPeter", GD, 1)
plain("umbrella-gdpr-request", "Jill Valentine <j.valentine@umbrella.example>", "GDPR data export request",
      "Sat, 21 Nov 2026 11:11:11 +0100", "gdpr-1@umbrella.example",
      "Under Art. 15 GDPR, please send us a copy of all personal data you store\nabout users of umbrella.example.\n\nJill Valentine\nData Protection Officer")
gmail("freemail-cancel-subscription", "Priya Patel <priya.patel@example.com>", "Cancel my subscription",
      "Sat, 21 Nov 2026 21:05:55 +0530", "CAJ9pp-cancel-1@mail.gmail.com",
      "Please cancel my Starter subscription at the end of this billing period.",
      '<div dir="ltr">Please cancel my <b>Starter</b> subscription at the end of this billing period.</div>')
plain("hooli-billing-upgrade", "Monica Hall <monica.hall@hooli.example>", "Upgrade to Enterprise - quote needed",
      "Mon, 23 Nov 2026 09:00:00 -0800", "upgrade-quote@hooli.example",
      "Hi,\n\nwe would like a quote for Enterprise, 300 seats, annual billing,\nwith the EU data residency add-on.\n\nMonica Hall\nProcurement, Hooli")
plain("initech-invoice-followup", "Bill Lumbergh <bill.lumbergh@initech.example>", "Re: Question about our November invoice",
      "Mon, 23 Nov 2026 09:30:00 -0500", "invoice-followup@initech.example",
      "Yeah... so I'm back. Did you get a chance to fix that invoice?\n\nBill",
      extra="In-Reply-To: <5f2a9c1e-invoice@initech.example>\nReferences: <5f2a9c1e-invoice@initech.example>\n")
gmail("freemail-login-2fa", "Lars Nilsson <lars.nilsson@example.com>", "Lost my phone - 2FA locked out",
      "Mon, 23 Nov 2026 16:20:00 +0100", "CAK2fa-locked-1@mail.gmail.com",
      "I lost my phone and can't log in because of two-factor authentication.\nCan you disable 2FA for lars.nilsson@example.com? I can verify my identity.",
      '<div dir="ltr">I lost my phone and can&#39;t log in because of two-factor authentication.<br>Can you disable 2FA for lars.nilsson@example.com? I can verify my identity.</div>')
plain("globex-incident-report-request", "Anna Schmidt <anna.schmidt@globex.example>", "Incident report for 16 November outage",
      "Tue, 24 Nov 2026 10:00:00 +0100", "incident-report-req@globex.example",
      "Hello,\n\nour management asks for the written incident report (root cause,\ntimeline, prevention) for the outage on 16 November.\n\nAnna")
gmail("gmail-password-reset-thanks", "Maria Rossi <maria.rossi.84@example.com>", "Re: Can't reset my password",
      "Tue, 24 Nov 2026 18:02:00 +0100", "CAB7xq0-reset-3@mail.gmail.com",
      "One more question: can I change the email address on my account?",
      '<div dir="ltr">One more question: can I change the email address on my account?</div>',
      irt="CAB7xq0-reset-2@mail.gmail.com", refs=["CAB7xq0-reset-1@mail.gmail.com", "sidedesk-reply-reset@acme.example", "CAB7xq0-reset-2@mail.gmail.com"])
plain("umbrella-webhook-failing", "Carlos Oliveira <carlos@umbrella.example>", "Webhooks failing with TLS error",
      "Wed, 25 Nov 2026 07:45:00 +0000", "webhook-tls@umbrella.example",
      "Since this morning all webhook deliveries to https://hooks.umbrella.example fail\nwith 'x509: certificate signed by unknown authority'. We rotated our CA yesterday.\n\nCarlos")
plain("tag-reply-from-stranger", "Random Person <random.person@example.com>", "Re: [#1] question",
      "Wed, 25 Nov 2026 12:00:00 +0000", "stranger-tag@example.com",
      "I saw this ticket number somewhere, can you tell me what it is about?")
plain("hooli-sso-working", "Gavin Belson <gavin@hooli.example>", "Re: SAML SSO with Okta?",
      "Thu, 26 Nov 2026 09:15:00 -0800", "sso-q-3@hooli.example",
      "SSO works for the first 20 users. We'll roll it out company-wide on Monday.\n\nGavin",
      extra="In-Reply-To: <sso-q-2@hooli.example>\nReferences: <sso-q-1@hooli.example> <sidedesk-reply-sso@acme.example> <sso-q-2@hooli.example>\n")
plain("initech-thanks-close", "Peter Gibbons <peter.gibbons@initech.example>", "RE: API rate limit hit during nightly sync",
      "Fri, 27 Nov 2026 08:00:00 -0500", "rate-limit-thanks@initech.example",
      "The higher limit works, last night's sync finished without a single 429. Thanks!",
      extra="In-Reply-To: <BN8PR11MB0002Y@BN8PR11MB0002.namprd11.prod.outlook.com>\nReferences: <BN8PR11MB0001X@BN8PR11MB0001.namprd11.prod.outlook.com> <BN8PR11MB0002Y@BN8PR11MB0002.namprd11.prod.outlook.com>\n")
print(n[0], "files")
