//! Weighted choice among a rule's backends.

use gateway_core::{HttpService, Request, Response, service::ResponseFuture};
use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

/// Sends each request to one of several services, chosen at random in proportion to their
/// weights (Gateway API `backendRefs[].weight`).
#[derive(Clone, Debug)]
pub(crate) struct WeightedService {
    /// Services with their cumulative weight bound, in order; weight-0 entries are absent.
    choices: Arc<[(u64, HttpService)]>,
    total: u64,
}

impl WeightedService {
    /// `None` when every weight is zero (the rule then answers 500).
    pub(crate) fn new(weighted: Vec<(u32, HttpService)>) -> Option<Self> {
        let mut total = 0u64;
        let mut choices = Vec::with_capacity(weighted.len());
        for (weight, service) in weighted {
            if weight == 0 {
                continue;
            }
            total += u64::from(weight);
            choices.push((total, service));
        }
        (total > 0).then(|| Self {
            choices: choices.into(),
            total,
        })
    }

    /// The only service when there is exactly one choice.
    pub(crate) fn single(&self) -> Option<&HttpService> {
        match &*self.choices {
            [(_, only)] => Some(only),
            _ => None,
        }
    }

    fn pick(&self) -> &HttpService {
        let point = fastrand::u64(0..self.total);
        let index = self.choices.partition_point(|(bound, _)| *bound <= point);
        &self.choices[index.min(self.choices.len() - 1)].1
    }
}

impl tower::Service<Request> for WeightedService {
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.pick().call_shared(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_core::body;

    fn answering(code: u16) -> HttpService {
        HttpService::new(tower::service_fn(move |_req: Request| async move {
            let mut response = http::Response::new(body::empty());
            *response.status_mut() = http::StatusCode::from_u16(code).unwrap();
            Ok::<_, Infallible>(response)
        }))
    }

    #[tokio::test]
    async fn zero_weights_are_never_chosen_and_all_zero_is_none() {
        assert!(WeightedService::new(vec![(0, answering(200))]).is_none());
        let weighted =
            WeightedService::new(vec![(0, answering(500)), (3, answering(200))]).unwrap();
        assert!(weighted.single().is_some());
        for _ in 0..50 {
            let response = weighted
                .pick()
                .call_shared(http::Request::new(body::empty()))
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    }

    #[tokio::test]
    async fn choices_follow_weights() {
        let weighted =
            WeightedService::new(vec![(1, answering(201)), (3, answering(203))]).unwrap();
        let mut heavy = 0;
        for _ in 0..4000 {
            let response = weighted
                .pick()
                .call_shared(http::Request::new(body::empty()))
                .await
                .unwrap();
            if response.status() == 203 {
                heavy += 1;
            }
        }
        // Expected 3000; the bound is six standard deviations wide, so this fails only when
        // the choice is actually biased.
        assert!((2830..=3170).contains(&heavy), "{heavy}");
    }
}
