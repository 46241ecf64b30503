#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# tests/integration/helpers/console.py: drive cofferd's web console
# (/account/) in a real headless Chromium, for 93-console.sh.
#
# The environment names everything: URL (https://127.0.0.1:PORT), CACERT,
# ACCOUNT, PASSWORD, LOCKED (an account to lock out), COFFER (the client),
# LAPTOP_KS (the keystore of the device to lose), PHONE_KS, OWNER_KS and
# OWNER_CARD (a copy of the laptop's keystore and card), SHOTS (where the
# screenshots go), FRESH (cofferd's --fresh-auth seconds).  Exit status 0
# when every check held; each failed check prints "FAIL: ...".
import http.server
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException,
                                        WebDriverException)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

E = os.environ
URL = E["URL"]
failures = 0


def check(ok, what):
    global failures
    if not ok:
        failures += 1
        print("FAIL: " + what, flush=True)
    else:
        print("ok: " + what, flush=True)
    return ok


def step(what):
    print("--- " + what, flush=True)


# ---- plain HTTP, for headers and forged forms --------------------------

CTX = ssl.create_default_context(cafile=E["CACERT"])


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


OPENER = urllib.request.build_opener(
    urllib.request.HTTPSHandler(context=CTX), NoRedirect())


def fetch(path, data=None, cookie=None, headers=None):
    """(status, headers, body) of a GET, or a form POST when data."""
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = "coffer_console=" + cookie
    body = None
    if data is not None:
        body = urllib.parse.urlencode(data).encode()
        h["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(URL + path, data=body, headers=h)
    try:
        r = OPENER.open(req, timeout=30)
        return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def headers_ok(path, cookie=None):
    st, h, _ = fetch(path, cookie=cookie)
    return (h.get("Content-Security-Policy") ==
            "default-src 'self'; frame-ancestors 'none'" and
            h.get("X-Content-Type-Options") == "nosniff" and
            h.get("Referrer-Policy") == "no-referrer" and
            h.get("Cache-Control") == "no-store"), st


def cli(ks, *args, env=None):
    e = dict(os.environ)
    e["COFFER_KEYSTORE"] = ks
    e.update(env or {})
    p = subprocess.run([E["COFFER"]] + list(args), env=e,
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def totp(secret, ahead=0):
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC",
                         time.gmtime(time.time() + ahead))
    return subprocess.run(["oathtool", "--totp", "-b", "-N", when, secret],
                          capture_output=True, text=True,
                          check=True).stdout.strip()


# ---- the browser --------------------------------------------------------

opts = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
          "--disable-dev-shm-usage", "--hide-scrollbars",
          # The test's throwaway CA: only here, never in real use.
          "--ignore-certificate-errors",
          "--user-data-dir=" + os.path.join(os.getcwd(), "chromium-profile"),
          "--window-size=1280,900"):
    opts.add_argument(a)
opts.binary_location = "/usr/bin/chromium"
svc = webdriver.ChromeService(executable_path="/usr/bin/chromedriver") \
    if hasattr(webdriver, "ChromeService") else None
if svc is None:
    from selenium.webdriver.chrome.service import Service
    svc = Service(executable_path="/usr/bin/chromedriver")
d = webdriver.Chrome(service=svc, options=opts)
d.set_page_load_timeout(60)


def shot(name):
    """The page at 1280 and at 390 pixels wide, whole height (and the
    first 800 pixels at 1280, for docs/)."""
    d.set_window_size(1280, 800)
    d.save_screenshot(os.path.join(E["SHOTS"], "%s-1280-top.png" % name))
    labelled = d.execute_script(
        "return Array.from(document.querySelectorAll("
        "'input:not([type=hidden]), button')).every(function (e) {"
        " return e.tagName === 'BUTTON' ? e.textContent.trim() !== '' :"
        " e.id !== '' && document.querySelector("
        "'label[for=\"' + e.id + '\"]') !== null; })")
    check(labelled, "%s: every field has a label, every button a name"
          % name)
    for w in (1280, 390):
        d.set_window_size(w, 900)
        if w == 390:
            check(d.execute_script(
                "return document.documentElement.scrollWidth <= "
                "window.innerWidth"),
                "%s: no sideways scrolling at 390 pixels" % name)
        hgt = d.execute_script(
            "return document.documentElement.scrollHeight")
        chrome = d.execute_script(
            "return window.outerHeight - window.innerHeight")
        d.set_window_size(w, min(max(hgt, 600), 4000) + chrome)
        d.save_screenshot(os.path.join(E["SHOTS"], "%s-%d.png" % (name, w)))
    d.set_window_size(1280, 900)


def no_alert():
    try:
        d.switch_to.alert.dismiss()
        return False
    except NoAlertPresentException:
        return True


def h1():
    return d.find_element(By.TAG_NAME, "h1").text


def fill(name, value):
    el = d.find_element(By.NAME, name)
    el.clear()
    el.send_keys(value)


def click(el):
    """Click ${el} and wait for the next page."""
    d.execute_script("window.consoleTestOld = 1")
    el.click()
    WebDriverWait(d, 30, ignored_exceptions=[WebDriverException]).until(
        lambda dr: dr.execute_script(
            "return window.consoleTestOld === undefined && "
            "document.readyState === 'complete'"))


def submit(label):
    click(d.find_element(By.XPATH,
                         "//button[normalize-space()='%s']" % label))


def signin(account, password, code=None):
    d.get(URL + "/account/")
    fill("account", account)
    fill("password", password)
    if code is not None:
        fill("code", code)
    submit("Sign in")


try:
    step("sign in")
    d.get(URL + "/account/")
    check(h1() == "Sign in", "the sign-in page")
    shot("signin")
    for p in ("/account/", "/account/style.css", "/account/devices",
              "/v1/keys"):
        ok, st = headers_ok(p)
        check(ok, "security headers on %s (%d)" % (p, st))
    # By keyboard alone: Tab to each field, Enter to send.
    body = d.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)        # the skip link
    d.switch_to.active_element.send_keys(Keys.TAB)
    check(d.switch_to.active_element.get_attribute("name") == "account",
          "Tab reaches the account field")
    d.switch_to.active_element.send_keys(E["ACCOUNT"] + Keys.TAB)
    d.switch_to.active_element.send_keys("a wrong one" + Keys.TAB)
    check(d.switch_to.active_element.get_attribute("name") == "code",
          "Tab reaches the code field")
    d.switch_to.active_element.send_keys(Keys.TAB)
    check(d.switch_to.active_element.text == "Sign in",
          "Tab reaches the Sign in button")
    d.execute_script("window.consoleTestOld = 1")
    d.switch_to.active_element.send_keys(Keys.ENTER)
    WebDriverWait(d, 30, ignored_exceptions=[WebDriverException]).until(
        lambda dr: dr.execute_script(
            "return window.consoleTestOld === undefined && "
            "document.readyState === 'complete'"))
    check("Wrong account name or password" in d.page_source,
          "sent by keyboard: the wrong password is refused")
    signin(E["ACCOUNT"], "not the password")
    check("Wrong account name or password" in d.page_source,
          "a wrong password: an error on the sign-in page")
    signin(E["ACCOUNT"], E["PASSWORD"])
    check(h1() == "Devices", "signed in: the devices page")
    signed_at = time.time()
    ck = d.get_cookie("coffer_console")
    check(ck is not None and ck.get("httpOnly") and ck.get("secure") and
          ck.get("sameSite") == "Strict" and ck.get("path") == "/account/",
          "the cookie is HttpOnly, Secure, SameSite=Strict, /account/")
    cookie = ck["value"]
    ok, st = headers_ok("/account/devices", cookie)
    check(ok and st == 200, "security headers on a signed-in page")
    st, _, _ = fetch("/v1/sessions/current",
                     headers={"Authorization": "Bearer " + cookie})
    check(st == 401, "the cookie is no bearer token for the API (%d)" % st)

    step("devices, names as text")
    rows = d.find_elements(By.CSS_SELECTOR, "tbody tr")
    names = [r.find_element(By.TAG_NAME, "td").text for r in rows]
    check(any(n.startswith("laptop") for n in names) and
          any(n.startswith("phone") for n in names),
          "both devices listed: %s" % names)
    check(any(n.startswith("<script>alert(1)</script>") for n in names),
          "the device named <script>alert(1)</script> shows as text")
    check(no_alert(), "no script ran")
    check(len(d.find_elements(By.XPATH, "//td/script")) == 0,
          "no script element in the table")
    shot("devices")

    step("two-factor authentication, on")
    d.get(URL + "/account/security")
    check(h1() == "Security", "the security page")
    shot("security")
    submit("Turn on")
    check(len(d.find_elements(By.CSS_SELECTOR, ".qr svg path")) == 1,
          "a QR code as SVG")
    secret = d.find_element(By.CSS_SELECTOR, "main p code").text
    check(re.fullmatch("[A-Z2-7]+", secret) is not None,
          "the secret in base32")
    shot("totp")
    fill("code", totp(secret))
    submit("Confirm")
    check(h1() == "Recovery codes", "confirmed: the recovery codes")
    codes = [li.text for li in d.find_elements(By.CSS_SELECTOR,
                                                 "ol.codes li")]
    check(len(codes) == 10, "ten recovery codes shown")
    shot("recovery")

    step("sign in again, with the code")
    submit("Sign out")
    check(h1() == "Sign in", "signed out")
    st, _, _ = fetch("/account/devices", cookie=cookie)
    check(st == 303, "the old cookie is dead after sign-out (%d)" % st)
    signin(E["ACCOUNT"], E["PASSWORD"])
    check("give the one-time code too" in d.page_source,
          "without the code: asked for it")
    signin(E["ACCOUNT"], E["PASSWORD"], totp(secret, 30))
    check(h1() == "Devices", "signed in with password and code")
    signed_at = time.time()
    cookie = d.get_cookie("coffer_console")["value"]

    step("CSRF")
    st, _, body = fetch("/account/devices/signout", {"all_others": "1"},
                        cookie)
    check(st == 403 and "CSRF" in body, "a POST without CSRF token: 403")
    st, _, body = fetch("/account/devices/signout",
                        {"all_others": "1", "csrf": "0" * 32}, cookie)
    check(st == 403 and "CSRF" in body, "a wrong CSRF token: 403")
    csrf = d.find_element(By.NAME, "csrf").get_attribute("value")
    st, _, body = fetch("/account/devices/signout",
                        {"all_others": "1", "csrf": csrf}, cookie,
                        {"Sec-Fetch-Site": "cross-site"})
    check(st == 403, "a form from another site: 403")
    rc, out = cli(E["PHONE_KS"], "escrow", "status")
    check(rc == 0, "the refused forms signed nobody out: %s" % out)
    d.get(URL + "/account/devices")
    d.execute_script("document.querySelectorAll(\"input[name=csrf]\")"
                     ".forEach(function (e) { e.value = 'x'; })")
    click(d.find_elements(By.XPATH, "//button[normalize-space()="
                          "'Sign out this device']")[0])
    check(h1() == "Refused", "in the browser too: a wrong token refused")
    shot("refused")

    step("the drill: sign the laptop out")
    d.get(URL + "/account/devices")
    click(d.find_element(By.XPATH, "//button[@aria-label='Sign out this "
                         "device: laptop']"))
    check("Signed out 1 device session." in d.page_source,
          "the laptop signed out")
    rc, out = cli(E["LAPTOP_KS"], "escrow", "status")
    check(rc != 0 and ("401" in out or "session" in out.lower()),
          "the laptop's CLI token is refused: %s" % out.strip())
    rc, out = cli(E["PHONE_KS"], "escrow", "status")
    check(rc == 0, "the phone still signed in")

    step("keys, labels as text")
    d.get(URL + "/account/keys")
    shot("keys")
    check('he said "hi" & \'bye\'' in d.find_element(By.TAG_NAME,
                                                      "main").text,
          "a label with quotes shows as text")
    check(no_alert(), "no script ran on the keys page")

    step("the drill: destroy the laptop's keys, after fresh proof ran out")
    left = signed_at + float(E["FRESH"]) + 1 - time.time()
    if left > 0:
        time.sleep(left)
    click(d.find_element(By.XPATH, "//h2[normalize-space()='Device laptop']"
                         "/following-sibling::form[1]//button"))
    check(h1() == "Destroy for ever?", "the confirmation page")
    check("unreadable for ever" in d.page_source,
          "it says what becomes unreadable")
    check(len(d.find_elements(By.NAME, "password")) == 1,
          "not fresh any more: it asks for the password")
    shot("destroy")
    fill("password", "wrong password here")
    fill("code", codes[0])
    submit("Destroy for ever")
    check(h1() == "Confirm it is you", "a wrong password: asked again")
    shot("reauth")
    fill("password", E["PASSWORD"])
    fill("code", codes[1])
    submit("Continue")
    check(h1() == "Keys" and "Destroyed" in d.page_source,
          "destroyed: %s" % h1())
    rc, out = cli(E["OWNER_KS"], "escrow", "login", "--server", URL,
                  "--account", E["ACCOUNT"], "--device", "recovered",
                  env={"COFFER_ESCROW_CODE": codes[2]})
    check(rc == 0, "the owner signs in on a copy of the laptop: %s" % out)
    rc, out = cli(E["OWNER_KS"], "restore", "latest", "--target",
                  "r-after", env={"COFFER_REPO": E["OWNER_CARD"]})
    check(rc != 0 and not os.path.exists("r-after/src"),
          "the card copy no longer restores: %s" % out.strip())
    check("destroy" in out.lower(), "because the key was destroyed")

    step("activity")
    d.get(URL + "/account/activity")
    shot("activity")
    cells = [[td.text for td in r.find_elements(By.TAG_NAME, "td")]
             for r in d.find_elements(By.CSS_SELECTOR, "tbody tr")]
    events = [c[1] for c in cells if len(c) > 2]
    times = [c[0] for c in cells if len(c) > 2]
    check(len(events) > 0 and events[0] == "release" and
          times == sorted(times, reverse=True),
          "newest first (the refused release): %s" % events[:3])
    check(len(cells) == 50 and len(d.find_elements(
        By.XPATH, "//a[normalize-space()='Older']")) == 1 and
        len(d.find_elements(By.XPATH, "//a[normalize-space()='Newer']")) == 0,
        "the first page: 50 events and a link to older ones")
    click(d.find_element(By.XPATH, "//a[normalize-space()='Older']"))
    cells2 = [[td.text for td in r.find_elements(By.TAG_NAME, "td")]
              for r in d.find_elements(By.CSS_SELECTOR, "tbody tr")]
    check(0 < len(cells2) <= 50 and cells2[0][0] <= times[-1] and
          len(d.find_elements(By.XPATH, "//a[normalize-space()='Newer']"))
          == 1, "the second page: older events, a link back")
    events += [c[1] for c in cells2 if len(c) > 2]
    st, _, _ = fetch("/account/activity?page=x", cookie=cookie)
    check(st == 400, "a page that is no number: 400 (%d)" % st)
    check("destroy" in events and "revoke" in events and
          "totp_enable" in events, "the drill is in the log")

    step("a page framed by another origin is refused")

    class Outer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/inner":
                b = b"<p id=inner>framed here</p>"
            else:
                b = ("<iframe id=ctl src=/inner></iframe>"
                     "<iframe id=con src='%s/account/'></iframe>"
                     % URL).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Outer)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    d.get("http://127.0.0.1:%d/" % srv.server_address[1])
    time.sleep(2)
    d.switch_to.frame("ctl")
    check(len(d.find_elements(By.ID, "inner")) == 1,
          "a page without the header renders framed (the control)")
    d.switch_to.default_content()
    d.switch_to.frame("con")
    check(len(d.find_elements(By.NAME, "account")) == 0 and
          "Sign in" not in d.page_source,
          "the console does not render in another origin's frame")
    d.switch_to.default_content()
    srv.shutdown()

    step("security: change password, two-factor off")
    d.get(URL + "/account/security")
    newpw = E["PASSWORD"] + " changed"
    fill("password", E["PASSWORD"])
    fill("code", codes[3])
    fill("new_password", newpw)
    fill("new_password2", newpw + "x")
    submit("Change password")
    check("The two new passwords differ." in d.page_source,
          "two different new passwords: refused")
    if len(d.find_elements(By.NAME, "password")) == 1:
        fill("password", E["PASSWORD"])
        fill("code", codes[3])
    fill("new_password", newpw)
    fill("new_password2", newpw)
    submit("Change password")
    check("Password changed" in d.page_source, "the password changed")
    rc, out = cli(E["PHONE_KS"], "escrow", "status")
    check(rc != 0, "the phone was signed out by the change")
    fill("password", newpw)
    fill("code", codes[4])
    submit("Turn off")
    check("Two-factor authentication is off." in d.page_source,
          "two-factor authentication off")
    check(len(d.find_elements(By.XPATH,
                              "//button[normalize-space()='Turn on']")) == 1,
          "and it can be turned on again")

    step("11 wrong passwords: the 429 page")
    d.get(URL + "/account/devices")
    submit("Sign out")
    for i in range(11):
        signin(E["LOCKED"], "wrong password %d" % i)
    check(h1() == "Too many failed sign-ins", "the 429 page: %s" % h1())
    check(re.search(r"Try again in \d+ minutes? \(\d+ seconds\)",
                    d.page_source) is not None, "it says how long to wait")
    st, h, _ = fetch("/account/signin", {"account": E["LOCKED"],
                                         "password": "x"})
    check(st == 429 and int(h.get("Retry-After", "0")) > 0,
          "429 with Retry-After (%d)" % st)
    shot("limited")
finally:
    d.quit()

print("%d failed" % failures, flush=True)
sys.exit(1 if failures else 0)
