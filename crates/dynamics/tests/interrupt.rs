//! The interruption flag (`attnflow_dynamics::interrupt`): a requested interruption stops every
//! solver at its next step with `DynamicsError::Interrupted`, and clearing it lets the same
//! solver go on to the same state as an uninterrupted run. (Its own test binary: the flag is
//! process-wide and would stop the solvers of concurrently running tests.)

use attnflow_dynamics::{
    DynamicsError, Rk4, SelfAttention, Solver, interrupt,
    sampling::{self, Purpose},
};

#[test]
fn a_requested_interrupt_stops_the_next_step_and_clearing_resumes() {
    let field = SelfAttention::builder().beta(2.0).build().unwrap();
    let x0 = sampling::uniform_sphere(8, 3, &mut sampling::stream(3, 0, Purpose::InitialCondition))
        .unwrap();
    let mut reference = Solver::new(&field, Rk4::default(), &x0, 0.1).unwrap();
    reference.advance_to_step(20).unwrap();

    let mut solver = Solver::new(&field, Rk4::default(), &x0, 0.1).unwrap();
    solver.advance_to_step(10).unwrap();
    interrupt::request();
    assert!(interrupt::requested());
    assert_eq!(solver.advance_to_step(20), Err(DynamicsError::Interrupted));
    assert_eq!(
        solver.state().step,
        10,
        "no step was taken after the request"
    );
    interrupt::clear();
    solver.advance_to_step(20).unwrap();
    assert_eq!(
        solver.state().to_configuration().unwrap().as_slice(),
        reference.state().to_configuration().unwrap().as_slice()
    );
}
