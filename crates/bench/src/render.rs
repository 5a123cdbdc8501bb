//! Rendering an emitted certificate, beside a bare axum route, and where the time goes.
//!
//! Over HTTP, each for the same time with the same callers: a bare axum `GET /hello`, the
//! render filter for a learner with an emitted certificate, and the public page
//! `GET /certificates/{id}`, each as `serve` runs them (emitted pages kept for 2 s) and with
//! the page cache off (every request reads the database and renders). Then the same two
//! requests, cache off, through the router without TCP (`tower::ServiceExt::oneshot`), the use
//! cases alone (`render_for_learner`, `render_public`), and single storage reads, so that the
//! cost of each layer shows as the difference between two lines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use axum::routing::get;
use pok_domain::values::{CourseKey, UserId};
use pok_domain::{CertificateId, StateKind};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::support::{
    COURSE, CREATION_PATH, InProcess, RENDER_PATH, Res, SECRET, Sample, ServiceOpts, Sim, Verdicts,
    closed_loop, creation_body, timed_loop, users,
};

/// What the render benchmark runs.
#[derive(Debug, Clone)]
pub struct RenderOpts {
    /// Seconds of each measurement.
    pub seconds: u64,
    /// Concurrent callers.
    pub callers: usize,
    /// Other certificates stored before measuring, so that the tables are not trivially small.
    pub rows: usize,
    /// POK latency (rendering never calls POK; issuing the certificate does).
    pub latency_ms: u64,
    /// The service under test.
    pub service: ServiceOpts,
}

fn ok_status(r: &reqwest::Response) -> bool {
    r.status().is_success()
}

/// Records a certificate for a new learner and waits until the worker has it emitted.
async fn emitted_certificate(
    http: &reqwest::Client,
    bench: &InProcess,
) -> Res<(u64, CertificateId)> {
    let user = users(1);
    let answer: Value = http
        .post(format!("{}{CREATION_PATH}", bench.base))
        .bearer_auth(SECRET)
        .json(&creation_body(user, COURSE))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = answer["certificate_id"]
        .as_str()
        .ok_or_else(|| format!("no certificate id in the creation answer {answer}"))?;
    let id = CertificateId::parse(id)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = bench
            .service
            .certificates()
            .get(id)
            .await?
            .map(|c| c.state());
        if state == Some(StateKind::Emitted) {
            return Ok((user, id));
        }
        if Instant::now() > deadline {
            return Err(format!("the certificate was not emitted within 60 s ({state:?})").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the render benchmark and prints its lines.
pub async fn run(opts: &RenderOpts, http: &reqwest::Client, verdicts: &mut Verdicts) -> Res<()> {
    println!(
        "\n# Render of an emitted certificate vs a bare axum route ({} callers, {} s each)",
        opts.callers, opts.seconds
    );
    let sim = Sim::start().await?;
    let mut bench = InProcess::start(&sim, &opts.service, &[COURSE]).await?;
    sim.set(opts.latency_ms, None);
    let (user, id) = emitted_certificate(http, &bench).await?;
    // The worker has nothing left to do for this certificate: stop it, so that the
    // measurements below are of rendering alone, then store other learners' certificates.
    bench.stop_worker().await;
    let first = users(opts.rows);
    let (client, url) = (http.clone(), format!("{}{CREATION_PATH}", bench.base));
    let filled = closed_loop(opts.rows, 8, move |i| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .post(&url)
                .bearer_auth(SECRET)
                .json(&creation_body(first + i as u64, COURSE))
                .send()
                .await
                .is_ok_and(|r| ok_status(&r))
        }
    })
    .await;
    println!(
        "  {} other certificates stored ({} failed); the worker is stopped while measuring",
        filled.n(),
        filled.errors
    );

    let duration = Duration::from_secs(opts.seconds);
    let c = opts.callers;
    let render_body = Arc::new(serde_json::to_vec(
        &json!({"course_key": COURSE, "user_id": user, "language": "es"}),
    )?);
    let expect_emitted = |body: &[u8]| {
        // An emitted page links the image; a processing page would refresh itself.
        let text = String::from_utf8_lossy(body);
        text.contains("\"status\":200") && !text.contains("http-equiv")
    };

    // 1. A bare axum route, served the same way.
    let hello = TcpListener::bind("127.0.0.1:0").await?;
    let hello_url = format!("http://{}/hello", hello.local_addr()?);
    tokio::spawn(async move {
        let app = Router::new().route("/hello", get(|| async { "hello" }));
        let _ = axum::serve(hello, app).await;
    });
    let client = http.clone();
    let s_hello = timed_loop(duration, c, move |_, _| {
        let (client, url) = (client.clone(), hello_url.clone());
        async move { client.get(&url).send().await.is_ok_and(|r| ok_status(&r)) }
    })
    .await;

    // 2. The render filter over HTTP; the first answer is checked to be the emitted page.
    let first_answer = http
        .post(format!("{}{RENDER_PATH}", bench.base))
        .bearer_auth(SECRET)
        .header(header::CONTENT_TYPE, "application/json")
        .body(render_body.as_ref().clone())
        .send()
        .await?
        .bytes()
        .await?;
    if !expect_emitted(&first_answer) {
        return Err(format!(
            "the render filter did not answer the emitted page: {}",
            String::from_utf8_lossy(&first_answer)
        )
        .into());
    }
    println!(
        "  render filter answer: {} bytes of JSON carrying the page",
        first_answer.len()
    );
    let s_render = render_loop(http, &bench.base, &render_body, duration, c).await;
    // The same filter behind a router whose page cache is off: every request reads the
    // database and renders the template, as for a certificate nobody opened in the last
    // seconds.
    let (cold_base, cold_router) = bench.serve_without_page_cache().await?;
    let s_render_cold = render_loop(http, &cold_base, &render_body, duration, c).await;

    // 3. The public page over HTTP, with and without the page cache.
    let page_path = format!("/certificates/{id}");
    let page = http
        .get(format!("{}{page_path}", bench.base))
        .send()
        .await?;
    println!(
        "  public page: HTTP {}, {} bytes of HTML",
        page.status(),
        page.bytes().await?.len()
    );
    let s_page = page_loop(http, format!("{}{page_path}", bench.base), duration, c).await;
    let s_page_cold = page_loop(http, format!("{cold_base}{page_path}"), duration, c).await;

    // 4. The same two requests through the router (page cache off), without TCP or hyper.
    let router = cold_router.clone();
    let body = Arc::clone(&render_body);
    let s_render_nt = timed_loop(duration, c, move |_, _| {
        let (router, body) = (router.clone(), Arc::clone(&body));
        async move {
            let Ok(request) = Request::post(RENDER_PATH)
                .header(header::AUTHORIZATION, format!("Bearer {SECRET}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.as_ref().clone()))
            else {
                return false;
            };
            oneshot_ok(router, request).await
        }
    })
    .await;
    let router = cold_router;
    let path = page_path;
    let s_page_nt = timed_loop(duration, c, move |_, _| {
        let (router, path) = (router.clone(), path.clone());
        async move {
            let Ok(request) = Request::get(path.as_str()).body(Body::empty()) else {
                return false;
            };
            oneshot_ok(router, request).await
        }
    })
    .await;

    // 5. The use cases alone: storage reads and the decision, no page.
    let course = CourseKey::parse(COURSE)?;
    let learner = UserId::parse(&user.to_string())?;
    let (service, k) = (bench.service.clone(), course.clone());
    let s_use_case = timed_loop(duration, c, move |_, _| {
        let (service, k) = (service.clone(), k.clone());
        async move { service.render_for_learner(learner, &k).await.is_ok() }
    })
    .await;
    let service = bench.service.clone();
    let s_public_case = timed_loop(duration, c, move |_, _| {
        let service = service.clone();
        async move { service.render_public(id).await.is_ok() }
    })
    .await;

    // 6. One storage read each.
    let (service, k) = (bench.service.clone(), course.clone());
    let s_find_live = timed_loop(duration, c, move |_, _| {
        let (service, k) = (service.clone(), k.clone());
        async move {
            service
                .certificates()
                .find_live(learner, &k)
                .await
                .is_ok_and(|c| c.is_some())
        }
    })
    .await;
    let (service, k) = (bench.service.clone(), course);
    let s_binding = timed_loop(duration, c, move |_, _| {
        let (service, k) = (service.clone(), k.clone());
        async move { service.bindings().get(&k).await.is_ok_and(|b| b.is_some()) }
    })
    .await;
    // 7. One cost the profile found: statements with a bound `LIMIT ?` are re-prepared on
    // every run with the bundled SQLite.
    let limit_check = match bench.sqlite_file().map(std::path::Path::to_path_buf) {
        Some(file) => Some(
            tokio::task::spawn_blocking(move || {
                crate::sqlite_limit::compare(&file, COURSE, 20_000).map_err(|e| e.to_string())
            })
            .await?,
        ),
        None => None,
    };
    bench.stop().await;

    let hello_rate = s_hello.rate();
    let share = |s: &Sample| s.rate() / hello_rate * 100.0;
    println!("{}", s_hello.line("bare axum GET /hello (HTTP)"));
    for (label, s) in [
        ("render filter, emitted certificate (HTTP)", &s_render),
        ("render filter, page cache off (HTTP)", &s_render_cold),
        ("public page GET /certificates/{id} (HTTP)", &s_page),
        ("public page, page cache off (HTTP)", &s_page_cold),
        ("render filter, cache off, router, no TCP", &s_render_nt),
        ("public page, cache off, router, no TCP", &s_page_nt),
        (
            "use case render_for_learner (1 read + decision)",
            &s_use_case,
        ),
        ("use case render_public (1 read + decision)", &s_public_case),
        (
            "storage read find_live (spawn_blocking + pool)",
            &s_find_live,
        ),
        ("bindings().get (remembered for 5 s)", &s_binding),
    ] {
        println!("{}  = {:>5.1} % of hello", s.line(label), share(s));
    }
    match limit_check {
        Some(Ok((with_limit, without))) => println!(
            "  one connection, same row by primary key: `.first()` (LIMIT ?) {:.1} us/read, `.get_result()` (no LIMIT) {:.1} us/read",
            with_limit.as_secs_f64() * 1e6,
            without.as_secs_f64() * 1e6
        ),
        Some(Err(e)) => println!("  LIMIT check failed: {e}"),
        None => {}
    }
    let render_share = share(&s_render);
    verdicts.push(
        "render filter throughput / bare hello route",
        format!(
            "{:.0} / {:.0} req/s = {render_share:.1} %",
            s_render.rate(),
            hello_rate
        ),
        ">= 50 %",
        Some(render_share >= 50.0 && s_render.errors == 0),
    );
    verdicts.push(
        "render filter, page cache off / bare hello route (no target)",
        format!(
            "{:.0} / {:.0} req/s = {:.1} %",
            s_render_cold.rate(),
            hello_rate,
            share(&s_render_cold)
        ),
        "(>= 50 %)",
        Some(share(&s_render_cold) >= 50.0 && s_render_cold.errors == 0),
    );
    verdicts.push(
        "public page throughput / bare hello route (no target)",
        format!("{:.1} %", share(&s_page)),
        "(>= 50 %)",
        Some(share(&s_page) >= 50.0 && s_page.errors == 0),
    );
    Ok(())
}

/// `callers` callers sending the render filter's `body` to the service at `base` for
/// `duration`.
async fn render_loop(
    http: &reqwest::Client,
    base: &str,
    body: &Arc<Vec<u8>>,
    duration: Duration,
    callers: usize,
) -> Sample {
    let (client, url, body) = (
        http.clone(),
        format!("{base}{RENDER_PATH}"),
        Arc::clone(body),
    );
    timed_loop(duration, callers, move |_, _| {
        let (client, url, body) = (client.clone(), url.clone(), Arc::clone(&body));
        async move {
            client
                .post(&url)
                .bearer_auth(SECRET)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.as_ref().clone())
                .send()
                .await
                .is_ok_and(|r| ok_status(&r))
        }
    })
    .await
}

/// `callers` callers asking for the page at `url` for `duration`.
async fn page_loop(
    http: &reqwest::Client,
    url: String,
    duration: Duration,
    callers: usize,
) -> Sample {
    let client = http.clone();
    timed_loop(duration, callers, move |_, _| {
        let (client, url) = (client.clone(), url.clone());
        async move { client.get(&url).send().await.is_ok_and(|r| ok_status(&r)) }
    })
    .await
}

/// Sends one request through the router and reads the whole answer.
async fn oneshot_ok(router: Router, request: Request<Body>) -> bool {
    let Ok(response) = router.oneshot(request).await;
    if !response.status().is_success() {
        return false;
    }
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .is_ok()
}
