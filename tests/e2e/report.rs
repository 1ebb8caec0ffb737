//! `host report`: one self-contained HTML file, checked as text and rendered by a real
//! headless Chromium, whose screenshot must show the timeline's bars and line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// The colours `crates/report/src/lib.rs` draws the timeline bars and the cumulative line in.
const BAR: [u8; 3] = [0xd9, 0x48, 0x0f];
const LINE: [u8; 3] = [0x18, 0x64, 0xab];

/// Where a person finds the last report and its screenshot after the test.
fn kept(name: &str) -> PathBuf {
    let dir = repo_root().join("target");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn chromium() -> PathBuf {
    let candidates = [
        std::env::var_os("CHROMIUM").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium")),
        Some(PathBuf::from("/usr/bin/chromium-browser")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "headless Chromium is needed to render the report and is not installed: \
                 install the Debian package `chromium` (apt-get install chromium; scripts/test.sh does), \
                 or point CHROMIUM at a Chromium binary"
            )
        })
}

/// Renders `html` in headless Chromium into `png` (a 1280 x 2400 viewport); killed after 60 s.
fn screenshot(html: &Path, png: &Path) {
    let profile = temp_dir("chromium-profile");
    let _ = std::fs::remove_file(png);
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1280,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .env("HOME", &profile)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "chromium did not finish within 60 s:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // dbus complaints on stderr are normal in a container; only the screenshot counts.
    let out = child.wait_with_output().unwrap();
    assert!(
        png.exists(),
        "chromium wrote no screenshot ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&profile);
}

/// (width, height, pixels as RGB).
fn decode(png: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::io::BufReader::new(std::fs::File::open(png).unwrap());
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    let pixels = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

fn count_near(pixels: &[[u8; 3]], colour: [u8; 3]) -> usize {
    pixels
        .iter()
        .filter(|p| p.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 8))
        .count()
}

#[test]
fn report_is_one_offline_html_file_that_renders_its_charts() {
    let cluster = Cluster::shared();
    let legacy = legacy_db(cluster, "0.05");
    // Trust authentication ignores the password: it is here to prove it is never shown.
    let with_password = |db: &str| cluster.url(db).replace("postgres@", "postgres:hunter2pw@");
    let dir = temp_dir("report");

    // No state in the target yet: a clear error, no file.
    let empty = cluster.fresh_db("report_empty");
    let plan = write_plan(
        &dir.join("empty"),
        &with_password(&legacy),
        &with_password(&empty),
        100,
        CORE_TABLES,
    );
    let out_file = dir.join("empty.html");
    let out = host(&[
        "report",
        plan.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(
        err.contains("no migration state") && err.contains("run `host run"),
        "{err}"
    );
    assert!(!err.contains("hunter2pw"), "{err}");
    assert!(!out_file.exists());

    let target = cluster.fresh_db("report");
    let plan = write_plan(
        &dir,
        &with_password(&legacy),
        &with_password(&target),
        100,
        CORE_TABLES,
    );
    let plan = plan.to_str().unwrap();
    host_ok(&["run", plan]);
    // A reason with markup in it must come out as text.
    let mut tgt = cluster.connect(&target);
    let changed = tgt
        .execute(
            "UPDATE migration.quarantine SET reason = '<img src=x onerror=alert(1)> & \"quoted\" <b>'
             WHERE (table_name, legacy_key) = (SELECT table_name, legacy_key FROM migration.quarantine
                                               WHERE reason NOT LIKE 'target refused%' ORDER BY 1, 2 LIMIT 1)",
            &[],
        )
        .unwrap();
    assert_eq!(changed, 1, "the small dataset has quarantined rows");

    let html_path = dir.join("report.html");
    // Times are UTC whatever the zone of the machine (TZ) or of a database session (PGTZ).
    let out = run_ok(
        host(&["report", plan, "-o", html_path.to_str().unwrap()])
            .env("TZ", "America/New_York")
            .env("PGTZ", "Asia/Kolkata"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("validation passed"), "{stdout}");
    let html = std::fs::read_to_string(&html_path).unwrap();
    std::fs::write(kept("report.html"), &html).unwrap();

    for section in [
        "id=\"summary\"",
        "id=\"runs\"",
        "id=\"timeline\"",
        "id=\"throughput\"",
        "id=\"validation\"",
        "id=\"reasons\"",
        "id=\"lineage\"",
        "id=\"plan\"",
        "<svg",
        "validate passed",
        "success_rate",
        "Hot swaps",
        "[[table]]",
    ] {
        assert!(html.contains(section), "the report has no {section}");
    }
    for t in CORE_TABLES {
        assert!(html.contains(&format!(">{t}<")), "{t} is missing");
    }
    // Self-contained: nothing fetched from anywhere, no script.
    let lower = html.to_lowercase();
    for external in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "url(http",
        "url(//",
        "@import",
        "<script",
        "<link",
        "http://",
        "https://",
    ] {
        assert!(!lower.contains(external), "the report refers to {external}");
    }
    let started: String = tgt
        .query_one(
            "SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM migration.runs",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        html.contains(&format!("<td>{started}</td>"))
            && html.contains(&format!("started {started} UTC")),
        "the run's start, {started} UTC, in the runs table and the timeline"
    );
    assert!(!html.contains("hunter2pw"), "a password in the report");
    assert!(html.contains("postgres:***@"), "the URLs are shown, masked");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quoted&quot; &lt;b&gt;"),
        "the reason is escaped"
    );
    assert!(!html.contains("<img"), "markup from the data got through");

    // Rendered by a real browser: the bars and the line are on the screen.
    let png_path = kept("report-screenshot.png");
    screenshot(&html_path, &png_path);
    let (w, h, pixels) = decode(&png_path);
    assert_eq!((w, h), (1280, 2400), "screenshot size");
    let bars = count_near(&pixels, BAR);
    let line = count_near(&pixels, LINE);
    eprintln!(
        "screenshot {}: {bars} bar pixels, {line} line pixels",
        png_path.display()
    );
    assert!(
        bars > 2000,
        "the timeline bars did not render ({bars} pixels of {BAR:?}); see {}",
        png_path.display()
    );
    assert!(
        line > 800,
        "the cumulative line did not render ({line} pixels of {LINE:?}); see {}",
        png_path.display()
    );

    // Validation that cannot run (no source) is reported in the file, not fatal.
    let broken = dir.join("no-source.html");
    let out = host_ok(&[
        "report",
        plan,
        "--source",
        "postgres://postgres:hunter2pw@127.0.0.1:1/legacy",
        "-o",
        broken.to_str().unwrap(),
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["validation"], "could_not_run", "{json}");
    let html = std::fs::read_to_string(&broken).unwrap();
    assert!(
        html.contains("Validation could not run") && html.contains("cannot connect to the source"),
        "the reason validation did not run is in the report"
    );
    assert!(html.contains("id=\"timeline\"") && !html.contains("hunter2pw"));
}
